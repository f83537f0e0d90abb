DROP TABLE webauthn_user_handles;
