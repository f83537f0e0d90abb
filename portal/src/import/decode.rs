//! The bytes of an import file as text. Union systems export UTF-8 (with or without a byte-order
//! mark) or Shift_JIS (Windows code page 932, which `encoding_rs` decodes as `Shift_JIS`); the
//! automatic choice takes UTF-8 when every byte fits and Shift_JIS otherwise. A file that is
//! neither is refused with the first line that does not decode, never imported as mojibake.

use super::RowError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    ShiftJis,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::ShiftJis => "Shift_JIS",
        }
    }
}

/// What the operator told the import to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EncodingChoice {
    #[default]
    Auto,
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    #[value(name = "shift_jis", alias = "sjis", alias = "cp932")]
    ShiftJis,
}

/// The 1-based line of the first line of `bytes` that `valid` refuses.
fn first_bad_line(bytes: &[u8], valid: impl Fn(&[u8]) -> bool) -> u64 {
    // Neither encoding uses 0x0A inside a multi-byte character, so lines split safely.
    bytes
        .split(|b| *b == b'\n')
        .position(|line| !valid(line))
        .map_or(1, |i| i as u64 + 1)
}

fn is_sjis(bytes: &[u8]) -> bool {
    encoding_rs::SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(bytes)
        .is_some()
}

fn encoding_error(line: u64, message: impl Into<String>) -> RowError {
    RowError {
        line,
        column: None,
        message: message.into(),
    }
}

pub fn decode(bytes: &[u8], choice: EncodingChoice) -> Result<(String, Encoding), RowError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(encoding_error(
            1,
            "the file is UTF-16 (Excel's \"Unicode text\"); save it as \"CSV UTF-8\" or as CSV in Shift_JIS",
        ));
    }
    if let Some(i) = bytes.iter().position(|b| *b == 0) {
        let line = bytes[..i].iter().filter(|b| **b == b'\n').count() as u64 + 1;
        return Err(encoding_error(
            line,
            "the file contains NUL bytes: it is not a CSV text file",
        ));
    }
    let without_bom = bytes.strip_prefix(b"\xEF\xBB\xBF");
    let utf8 = |b: &[u8]| std::str::from_utf8(b).map(str::to_string);
    match choice {
        EncodingChoice::Utf8 | EncodingChoice::Auto if without_bom.is_some() => {
            let body = without_bom.unwrap_or(bytes);
            utf8(body).map(|s| (s, Encoding::Utf8)).map_err(|_| {
                encoding_error(
                    first_bad_line(body, |l| std::str::from_utf8(l).is_ok()),
                    "the file starts with a UTF-8 byte-order mark but this line is not UTF-8",
                )
            })
        }
        EncodingChoice::Utf8 => utf8(bytes).map(|s| (s, Encoding::Utf8)).map_err(|_| {
            let line = first_bad_line(bytes, |l| std::str::from_utf8(l).is_ok());
            let hint = if is_sjis(bytes) {
                " (it looks like Shift_JIS: use --encoding shift_jis or auto)"
            } else {
                ""
            };
            encoding_error(line, format!("this line is not UTF-8{hint}"))
        }),
        EncodingChoice::ShiftJis => decode_sjis(bytes).ok_or_else(|| {
            encoding_error(
                first_bad_line(bytes, is_sjis),
                "this line is not Shift_JIS (CP932)",
            )
        }),
        EncodingChoice::Auto => {
            if let Ok(s) = utf8(bytes) {
                return Ok((s, Encoding::Utf8));
            }
            decode_sjis(bytes).ok_or_else(|| {
                encoding_error(
                    first_bad_line(bytes, |l| std::str::from_utf8(l).is_ok() || is_sjis(l)),
                    "this line is neither UTF-8 nor Shift_JIS (CP932): check the file's character encoding",
                )
            })
        }
    }
}

fn decode_sjis(bytes: &[u8]) -> Option<(String, Encoding)> {
    encoding_rs::SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|s| (s.into_owned(), Encoding::ShiftJis))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sjis(s: &str) -> Vec<u8> {
        encoding_rs::SHIFT_JIS.encode(s).0.into_owned()
    }

    #[test]
    fn both_encodings_and_the_bom() {
        let text = "記号,番号\n34,1234567\n";
        assert_eq!(
            decode(text.as_bytes(), EncodingChoice::Auto).unwrap().1,
            Encoding::Utf8
        );
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(decode(&bom, EncodingChoice::Auto).unwrap().0, text);
        let (s, e) = decode(&sjis(text), EncodingChoice::Auto).unwrap();
        assert_eq!((s.as_str(), e), (text, Encoding::ShiftJis));
        // CP932 extensions (NEC special characters such as ①) decode too.
        let (s, _) = decode(&sjis("①髙"), EncodingChoice::ShiftJis).unwrap();
        assert_eq!(s, "①髙");
    }

    #[test]
    fn a_wrong_encoding_names_the_line() {
        let mut bytes = "a,b\nc,d\n".as_bytes().to_vec();
        bytes.extend_from_slice(&[0x82, 0x0A]); // a lead byte without its trail byte
        let e = decode(&bytes, EncodingChoice::Auto).unwrap_err();
        assert_eq!(e.line, 3);
        let e = decode(&sjis("a\n記号\n"), EncodingChoice::Utf8).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("Shift_JIS"), "{}", e.message);
        let e = decode(b"\xFF\xFEa\x00", EncodingChoice::Auto).unwrap_err();
        assert!(e.message.contains("UTF-16"));
    }
}
