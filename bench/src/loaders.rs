//! Readers (and a few writers) for user-supplied vector files.
//!
//! * `.fvecs` / `.ivecs` / `.bvecs` (SIFT/GIST "texmex" format): for every
//!   vector a little-endian `i32` dimension, then `dim` values (`f32`, `i32`
//!   or `u8`).
//! * `.npy`: 2-D float32 (or float64, converted) array in C order, format
//!   versions 1, 2 and 3.
//! * `.csv` / `.txt`: one vector per line, comma separated (optionally
//!   wrapped in `[...]`); blank lines and `#` comments are skipped.
//! * `.json`: an array of arrays of numbers.
//!
//! All readers return errors, never panic, on malformed input.

use crate::dataset::Matrix;
use anyhow::{anyhow, bail, Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Row-major `rows × dim` matrix of `i32` (ground-truth ids).
#[derive(Clone, Debug, PartialEq)]
pub struct IMatrix {
    pub rows: usize,
    pub dim: usize,
    pub data: Vec<i32>,
}

impl IMatrix {
    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[i32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Upper bound on a per-vector dimension we accept (guards against garbage).
const MAX_DIM: usize = 1 << 20;

/// Read a `.fvecs`/`.ivecs`/`.bvecs`-style file: `elem` bytes per value,
/// `decode` turns them into the output type. Reads at most `limit` vectors.
fn read_vecs<T, F>(
    path: &Path,
    elem: usize,
    limit: Option<usize>,
    decode: F,
) -> Result<(usize, usize, Vec<T>)>
where
    F: Fn(&[u8]) -> T,
{
    let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut dim: Option<usize> = None;
    let mut rows = 0usize;
    let mut out: Vec<T> = Vec::new();
    let mut buf = Vec::new();
    let limit = limit.unwrap_or(usize::MAX);
    while rows < limit {
        let mut head = [0u8; 4];
        match read_full(&mut r, &mut head)? {
            0 => break,
            4 => {}
            n => bail!(
                "{}: truncated dimension header at vector {rows} ({n} of 4 bytes)",
                path.display()
            ),
        }
        let d = i32::from_le_bytes(head);
        if d <= 0 || d as usize > MAX_DIM {
            bail!("{}: invalid dimension {d} at vector {rows}", path.display());
        }
        let d = d as usize;
        match dim {
            None => {
                dim = Some(d);
                let per = 4 + d * elem;
                if len > 0 {
                    let expect = (len as usize / per).min(limit);
                    out.reserve(expect * d);
                }
            }
            Some(d0) if d0 != d => {
                bail!(
                    "{}: vector {rows} has dimension {d}, expected {d0}",
                    path.display()
                )
            }
            _ => {}
        }
        buf.resize(d * elem, 0);
        let got = read_full(&mut r, &mut buf)?;
        if got != buf.len() {
            bail!(
                "{}: truncated vector {rows}: {got} of {} bytes",
                path.display(),
                buf.len()
            );
        }
        out.extend(buf.chunks_exact(elem).map(&decode));
        rows += 1;
    }
    let dim = dim.ok_or_else(|| anyhow!("{}: file holds no vectors", path.display()))?;
    Ok((rows, dim, out))
}

/// Like `read_exact`, but returns the number of bytes read (short at EOF).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(got)
}

/// Read an `.fvecs` file (at most `limit` vectors).
pub fn read_fvecs(path: &Path, limit: Option<usize>) -> Result<Matrix> {
    let (rows, dim, data) = read_vecs(path, 4, limit, |b| {
        f32::from_le_bytes(b.try_into().unwrap())
    })?;
    Ok(Matrix::new(rows, dim, data))
}

/// Read a `.bvecs` file (u8 values, converted to f32).
pub fn read_bvecs(path: &Path, limit: Option<usize>) -> Result<Matrix> {
    let (rows, dim, data) = read_vecs(path, 1, limit, |b| b[0] as f32)?;
    Ok(Matrix::new(rows, dim, data))
}

/// Read an `.ivecs` file (at most `limit` vectors).
pub fn read_ivecs(path: &Path, limit: Option<usize>) -> Result<IMatrix> {
    let (rows, dim, data) = read_vecs(path, 4, limit, |b| {
        i32::from_le_bytes(b.try_into().unwrap())
    })?;
    Ok(IMatrix { rows, dim, data })
}

/// Write an `.fvecs` file.
pub fn write_fvecs(path: &Path, m: &Matrix) -> Result<()> {
    write_vecs(path, m.rows, m.dim, |i, w| {
        for x in &m.data[i * m.dim..(i + 1) * m.dim] {
            w.write_all(&x.to_le_bytes())?;
        }
        Ok(())
    })
}

/// Write an `.ivecs` file.
pub fn write_ivecs(path: &Path, m: &IMatrix) -> Result<()> {
    write_vecs(path, m.rows, m.dim, |i, w| {
        for x in m.row(i) {
            w.write_all(&x.to_le_bytes())?;
        }
        Ok(())
    })
}

fn write_vecs<F>(path: &Path, rows: usize, dim: usize, mut body: F) -> Result<()>
where
    F: FnMut(usize, &mut BufWriter<File>) -> std::io::Result<()>,
{
    // Write to a temp name and rename, so a crash never leaves a half file
    // that a later run would mistake for a complete cache entry.
    let tmp = path.with_extension("tmp");
    let f = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    for i in 0..rows {
        w.write_all(&(dim as i32).to_le_bytes())?;
        body(i, &mut w)?;
    }
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

/// Read a 2-D `.npy` array of float32 (or float64, converted) in C order.
pub fn read_npy(path: &Path, limit: Option<usize>) -> Result<Matrix> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    parse_npy(&bytes, limit).with_context(|| format!("{}: bad .npy file", path.display()))
}

/// Parse `.npy` bytes (see [`read_npy`]).
pub fn parse_npy(bytes: &[u8], limit: Option<usize>) -> Result<Matrix> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("missing \\x93NUMPY magic");
    }
    let major = bytes[6];
    let (hlen, hstart) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                bail!("truncated header");
            }
            (
                u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
                12,
            )
        }
        v => bail!("unsupported .npy version {v}"),
    };
    let hend = hstart
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| anyhow!("truncated header"))?;
    let header =
        std::str::from_utf8(&bytes[hstart..hend]).map_err(|_| anyhow!("header is not UTF-8"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| anyhow!("header lacks 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let elem = match descr {
        "<f4" | "=f4" | "|f4" => 4,
        "<f8" | "=f8" | "|f8" => 8,
        d => bail!("unsupported dtype {d:?} (need little-endian float32 '<f4' or '<f8')"),
    };
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| anyhow!("header lacks 'fortran_order'"))?;
    if fortran.trim() != "False" {
        bail!("Fortran-order arrays are not supported (save with C order)");
    }
    let shape = dict_value(header, "shape").ok_or_else(|| anyhow!("header lacks 'shape'"))?;
    let dims: Vec<usize> = shape
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| anyhow!("bad shape entry {s:?}"))
        })
        .collect::<Result<_>>()?;
    let (rows, dim) = match dims.as_slice() {
        [r, d] => (*r, *d),
        [d] => (1, *d),
        _ => bail!("expected a 2-D array, shape is {shape}"),
    };
    let need = rows
        .checked_mul(dim)
        .and_then(|x| x.checked_mul(elem))
        .ok_or_else(|| anyhow!("shape too large"))?;
    let body = &bytes[hend..];
    if body.len() < need {
        bail!("data truncated: {} bytes, shape needs {need}", body.len());
    }
    if dim == 0 {
        bail!("zero-dimension vectors");
    }
    let take = limit.unwrap_or(rows).min(rows);
    let body = &body[..take * dim * elem];
    let data: Vec<f32> = if elem == 4 {
        body.chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect()
    };
    Ok(Matrix::new(take, dim, data))
}

/// Extract the raw text of `'key': value` from a numpy header dict.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat_s = format!("'{key}'");
    let pat_d = format!("\"{key}\"");
    let at = header
        .find(&pat_s)
        .map(|i| i + pat_s.len())
        .or_else(|| header.find(&pat_d).map(|i| i + pat_d.len()))?;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('(') {
        let end = rest.find(')')?;
        Some(&rest[..=end])
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim())
    }
}

/// Read a CSV file: one vector per line, values separated by commas.
pub fn read_csv(path: &Path, limit: Option<usize>) -> Result<Matrix> {
    let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let r = BufReader::new(f);
    let limit = limit.unwrap_or(usize::MAX);
    let mut dim = None;
    let mut rows = 0;
    let mut data = Vec::new();
    for (lineno, line) in r.lines().enumerate() {
        if rows >= limit {
            break;
        }
        let line =
            line.with_context(|| format!("{}: read error at line {}", path.display(), lineno + 1))?;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.trim_start_matches('[').trim_end_matches(']');
        let before = data.len();
        for (j, field) in t.split(',').enumerate() {
            let v: f32 = field.trim().parse().map_err(|_| {
                anyhow!(
                    "{}:{}: field {} is not a number: {:?}",
                    path.display(),
                    lineno + 1,
                    j + 1,
                    field.trim()
                )
            })?;
            data.push(v);
        }
        let d = data.len() - before;
        match dim {
            None => dim = Some(d),
            Some(d0) if d0 != d => bail!(
                "{}:{}: {d} values, expected {d0}",
                path.display(),
                lineno + 1
            ),
            _ => {}
        }
        rows += 1;
    }
    let dim = dim.ok_or_else(|| anyhow!("{}: file holds no vectors", path.display()))?;
    Ok(Matrix::new(rows, dim, data))
}

/// Read a JSON file holding an array of arrays of numbers.
pub fn read_json(path: &Path, limit: Option<usize>) -> Result<Matrix> {
    let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let v: Vec<Vec<f32>> = serde_json::from_reader(BufReader::new(f)).with_context(|| {
        format!(
            "{}: expected a JSON array of arrays of numbers",
            path.display()
        )
    })?;
    let take = limit.unwrap_or(v.len()).min(v.len());
    let dim = v
        .first()
        .map(|r| r.len())
        .ok_or_else(|| anyhow!("{}: file holds no vectors", path.display()))?;
    if dim == 0 {
        bail!("{}: empty vectors", path.display());
    }
    let mut data = Vec::with_capacity(take * dim);
    for (i, r) in v.iter().take(take).enumerate() {
        if r.len() != dim {
            bail!(
                "{}: vector {i} has {} values, expected {dim}",
                path.display(),
                r.len()
            );
        }
        data.extend_from_slice(r);
    }
    Ok(Matrix::new(take, dim, data))
}

/// Load a vector file, choosing the reader from the extension.
pub fn load_any(path: &Path, limit: Option<usize>) -> Result<Matrix> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let m = match ext.as_str() {
        "fvecs" => read_fvecs(path, limit)?,
        "bvecs" => read_bvecs(path, limit)?,
        "npy" => read_npy(path, limit)?,
        "csv" | "txt" => read_csv(path, limit)?,
        "json" => read_json(path, limit)?,
        other => bail!(
            "{}: unknown vector file extension {other:?} (use .fvecs, .bvecs, .npy, .csv or .json)",
            path.display()
        ),
    };
    if m.data.iter().any(|x| !x.is_finite()) {
        bail!("{}: contains NaN or infinite values", path.display());
    }
    Ok(m)
}
