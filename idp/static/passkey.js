// passkey page script (see issue 3)
