//! The one CSV writer: rows are encoded by the `csv` crate (fields with the delimiter, a
//! quote or a line break are quoted, quotes doubled) and the file is written atomically.

use std::path::{Path, PathBuf};

use ::csv::{Terminator, WriterBuilder};

use crate::{atomic_write, Error, Result};

/// How records end. `Lf` for the data files of runs; `CrLf` (RFC 4180) for the tables of
/// `valley-report`, which spreadsheet tools open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnd {
    Lf,
    CrLf,
}

/// Collects a header and rows in memory, then writes them to `path` in one atomic write, so
/// an interrupted run never leaves a half-written table.
pub struct CsvWriter {
    path: PathBuf,
    inner: ::csv::Writer<Vec<u8>>,
}

impl CsvWriter {
    /// A writer for `path` whose first record is `header`.
    pub fn new<I, T>(path: &Path, header: I, line_end: LineEnd) -> Result<Self>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let terminator = match line_end {
            LineEnd::Lf => Terminator::Any(b'\n'),
            LineEnd::CrLf => Terminator::CRLF,
        };
        let inner = WriterBuilder::new().terminator(terminator).flexible(true).from_writer(Vec::new());
        let mut w = Self { path: path.to_path_buf(), inner };
        w.row(header)?;
        Ok(w)
    }

    /// Appends one record.
    pub fn row<I, T>(&mut self, cells: I) -> Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.inner.write_record(cells).map_err(|source| Error::Csv { path: self.path.clone(), source })
    }

    /// The encoded bytes written so far.
    pub fn into_bytes(self) -> Result<Vec<u8>> {
        let path = self.path;
        self.inner.into_inner().map_err(|e| Error::Csv { path, source: e.into_error().into() })
    }

    /// Writes the file atomically.
    pub fn finish(self) -> Result<()> {
        let path = self.path.clone();
        atomic_write(&path, &self.into_bytes()?)
    }
}

/// Writes `header` and `rows` to `path` (see [`CsvWriter`]).
pub fn write_csv<H, HT, R, C, T>(path: &Path, header: H, rows: R, line_end: LineEnd) -> Result<()>
where
    H: IntoIterator<Item = HT>,
    HT: AsRef<[u8]>,
    R: IntoIterator<Item = C>,
    C: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut w = CsvWriter::new(path, header, line_end)?;
    for r in rows {
        w.row(r)?;
    }
    w.finish()
}

/// Writes serialisable `rows` to `path`, one column per field, header from the field names
/// (LF line ends, atomic).
pub fn write_records<T: serde::Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let csv_err = |source| Error::Csv { path: path.to_path_buf(), source };
    let mut w = ::csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| csv_err(e.into_error().into()))?;
    atomic_write(path, &bytes)
}

/// Reads the rows [`write_records`] wrote.
pub fn read_records<T: serde::de::DeserializeOwned>(path: &Path) -> std::result::Result<Vec<T>, ::csv::Error> {
    ::csv::Reader::from_path(path)?.deserialize().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_cells_that_need_it_and_uses_the_line_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        write_csv(&p, ["a", "b"], [vec!["1", "x,y"], vec!["say \"hi\"", "two\nlines"]], LineEnd::CrLf).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a,b\r\n1,\"x,y\"\r\n\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
        write_csv(&p, ["lambda", "loss"], [["0.5", "1.25"]], LineEnd::Lf).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "lambda,loss\n0.5,1.25\n");
    }

    #[test]
    fn records_round_trip_by_field_name() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Row {
            lambda: f64,
            name: String,
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        let rows = vec![Row { lambda: -0.5, name: "a,b".into() }, Row { lambda: 2.0, name: "c".into() }];
        write_records(&p, &rows).unwrap();
        assert!(std::fs::read_to_string(&p).unwrap().starts_with("lambda,name\n"));
        assert_eq!(read_records::<Row>(&p).unwrap(), rows);
    }

    #[test]
    fn round_trips_through_the_csv_reader() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        let rows = vec![vec!["1".to_string(), "a \"b\", c".to_string()], vec!["2".into(), "".into()]];
        write_csv(&p, ["n", "text"], rows.clone(), LineEnd::Lf).unwrap();
        let mut r = ::csv::Reader::from_path(&p).unwrap();
        let back: Vec<Vec<String>> = r.records().map(|rec| rec.unwrap().iter().map(String::from).collect()).collect();
        assert_eq!(back, rows);
    }
}
