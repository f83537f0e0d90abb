//! The bundled list of common and breached passwords (`idp/data/common-passwords.txt.gz`,
//! 412,427 lower-cased entries; source and licence in `idp/data/README.md`), checked offline
//! (ASVS 5.0 6.2.4, 6.2.12; NIST 800-63B 3.1.1.2). A candidate is refused when its lower-cased
//! form is on the list, or what is left of it after trailing digits and symbols are stripped
//! (`Password1!` → `password`, `Sakura2024!` → `sakura`): the composition rules push members
//! to append exactly such suffixes to a word on the list.
//!
//! Memory: the list is kept as its decompressed text plus a sorted table of where each entry
//! starts, searched by bisection: about 5 MB on the heap, where a `HashSet<String>` of the same
//! entries took 27 MB more (`cargo bench -p kenpo-idp --bench endpoints` prints both). It is
//! decompressed once, on first use; `startup` forces that so no sign-in pays for it.

use std::sync::LazyLock;

static GZIPPED: &[u8] = include_bytes!("../../data/common-passwords.txt.gz");

/// Entries shorter than this are not on the list (see the README): a stripped remainder this
/// short is not looked up.
const MIN_LEN: usize = 4;

pub struct CommonPasswords {
    /// The entries, each ended by `\n`.
    text: String,
    /// Where each entry starts in `text`, ordered by the entry.
    starts: Vec<u32>,
}

static LIST: LazyLock<CommonPasswords> = LazyLock::new(|| {
    CommonPasswords::decompress(GZIPPED).unwrap_or_else(|e| {
        // Only a broken build can get here; startup refuses to serve with an empty list.
        tracing::error!(error = %e, "the common-password list did not load");
        CommonPasswords {
            text: String::new(),
            starts: Vec::new(),
        }
    })
});

/// The list, decompressed on first use.
pub fn list() -> &'static CommonPasswords {
    &LIST
}

impl CommonPasswords {
    fn decompress(gz: &[u8]) -> Result<Self, String> {
        use std::io::Read as _;
        let mut text = String::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.shrink_to_fit();
        let mut starts = Vec::new();
        let mut at = 0usize;
        for line in text.split_inclusive('\n') {
            let entry = line.trim_end_matches(['\n', '\r']);
            if !entry.is_empty() {
                starts.push(u32::try_from(at).map_err(|_| "list too large".to_string())?);
            }
            at += line.len();
        }
        let mut list = Self { text, starts };
        // The file is sorted; sorting again costs little and keeps bisection correct if a
        // regenerated file is not.
        let mut starts = std::mem::take(&mut list.starts);
        starts.sort_unstable_by(|a, b| list.entry(*a).cmp(list.entry(*b)));
        starts.dedup_by(|a, b| list.entry(*a) == list.entry(*b));
        list.starts = starts;
        Ok(list)
    }

    fn entry(&self, start: u32) -> &str {
        let rest = self.text.get(start as usize..).unwrap_or("");
        let end = rest.find('\n').unwrap_or(rest.len());
        rest[..end].trim_end_matches('\r')
    }

    /// Every entry, in order (the benchmark compares the list with a `HashSet` of them).
    pub fn entries(&self) -> impl Iterator<Item = &str> {
        self.starts.iter().map(|s| self.entry(*s))
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    fn contains(&self, lower: &str) -> bool {
        self.starts
            .binary_search_by(|s| self.entry(*s).cmp(lower))
            .is_ok()
    }

    /// Whether `password` is on the list, as it is or without its trailing digits and symbols.
    pub fn refuses(&self, password: &str) -> bool {
        let lower = password.to_lowercase();
        if self.contains(&lower) {
            return true;
        }
        let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
        stem.len() >= MIN_LEN && stem.len() < lower.len() && self.contains(stem)
    }

    /// Bytes held by the list (text and index), for the memory figure in the docs.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.starts.capacity() * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_list_loads_whole() {
        let l = list();
        assert_eq!(l.len(), 412_427);
        assert!(l.heap_bytes() < 8 * 1024 * 1024, "{}", l.heap_bytes());
    }

    #[test]
    fn common_passwords_and_their_suffixed_forms_are_refused() {
        let l = list();
        for p in [
            "password",
            "Password1!",
            "PASSWORD",
            "qwerty123",
            "Sakura2024!",
            "iloveyou!!",
        ] {
            assert!(l.refuses(p), "{p} is common");
        }
        for p in ["Vq7#mZ2!xLp9", "K3nPo-h@rb0r-Tide", "nf8Q!e2Lr0Zw"] {
            assert!(!l.refuses(p), "{p} is not on the list");
        }
        // A suffix alone is not a reason: "Ab1!" strips to "ab", too short to look up.
        assert!(!l.refuses("Zx9!"));
    }
}
