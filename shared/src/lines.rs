//! Line numbers of CSV records, for import reports that name the line a staff member sees in
//! their editor.

/// Line numbers of a decoded file, from byte offsets. The csv reader ends a record at the CR of
/// a CRLF and starts the next one at its LF, so both its line count and its byte position of a
/// record after a CRLF are one line early (it reported the first data row of an Excel file as
/// line 1). Here a record's line is one plus the number of LF bytes up to and including its
/// start: LF, CRLF and a mix all count alike.
pub struct LineIndex {
    newlines: Vec<u64>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let newlines = text
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i as u64)
            .collect();
        Self { newlines }
    }

    /// The 1-based line of a record starting at byte `offset`.
    pub fn line(&self, offset: u64) -> u64 {
        self.newlines.partition_point(|&nl| nl <= offset) as u64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    /// Where the csv reader starts each record of `text` (it puts a record after a CRLF at the
    /// LF, one line early by its own count).
    fn starts(text: &str) -> Vec<u64> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let index = LineIndex::new(text);
        r.records()
            .map(|rec| index.line(rec.unwrap().position().unwrap().byte()))
            .collect()
    }

    #[test]
    fn lf_crlf_and_a_mix_count_alike() {
        assert_eq!(starts("h,a\nx,1\ny,2\n"), vec![1, 2, 3]);
        assert_eq!(starts("h,a\r\nx,1\r\ny,2\r\n"), vec![1, 2, 3]);
        assert_eq!(starts("h,a\r\nx,1\ny,2\r\nz,3"), vec![1, 2, 3, 4]);
        assert_eq!(starts("h,a\r\n\"x\r\nq\",1\r\ny,2\r\n"), vec![1, 2, 4]);
        assert_eq!(
            starts("h,a\n\nx,1\n"),
            vec![1, 3],
            "blank lines are no records"
        );
    }
}
