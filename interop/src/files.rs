//! The test files every peer serves, with known SHA-256 hashes.
//!
//! Each file's bytes are a pseudo-random sequence seeded by its path (so no two files are
//! alike and none compresses), made the same way every time; the hashes are written next
//! to them in `SHA256SUMS` (the `sha256sum` format), and a download is checked against
//! those hashes, never against the client's own idea of what it fetched.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// The single files, by path and size in bytes.
pub const SINGLE_FILES: [(&str, usize); 8] = [
    ("1k.bin", 1024),
    ("5k.bin", 5 * 1024),
    ("10k.bin", 10 * 1024),
    ("500k.bin", 500 * 1024),
    ("2m.bin", 2 * 1024 * 1024),
    ("3m.bin", 3 * 1024 * 1024),
    ("5m.bin", 5 * 1024 * 1024),
    ("10m.bin", 10 * 1024 * 1024),
];

/// How many small files the `multiplexing` case fetches, and their size.
pub const MULTIPLEX_FILES: usize = 1999;
/// The size of each `multiplexing` file.
pub const MULTIPLEX_FILE_SIZE: usize = 32;

/// The path (relative to the document root) of the `i`th `multiplexing` file.
pub fn multiplex_path(i: usize) -> String {
    format!("mux/{i:04}.bin")
}

/// The bytes of the file at `path` with `size` bytes.
pub fn content(path: &str, size: usize) -> Vec<u8> {
    // FNV-1a of the path seeds a xorshift64* sequence.
    let mut state = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(size);
    out
}

/// The SHA-256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Path (relative, `/`-separated) to SHA-256.
pub type Manifest = BTreeMap<String, String>;

/// Writes every test file under `root` and `root/SHA256SUMS`; returns the hashes.
pub fn write_all(root: &Path) -> io::Result<Manifest> {
    let mut manifest = Manifest::new();
    let mut write = |path: &str, size: usize| -> io::Result<()> {
        let bytes = content(path, size);
        let file = root.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&file, &bytes)?;
        manifest.insert(path.to_string(), sha256_hex(&bytes));
        Ok(())
    };
    for (path, size) in SINGLE_FILES {
        write(path, size)?;
    }
    for i in 0..MULTIPLEX_FILES {
        write(&multiplex_path(i), MULTIPLEX_FILE_SIZE)?;
    }
    let sums: String = manifest
        .iter()
        .map(|(path, hash)| format!("{hash}  {path}\n"))
        .collect();
    std::fs::write(root.join("SHA256SUMS"), sums)?;
    Ok(manifest)
}

/// Checks that `downloads` holds each of `paths` with the hash `manifest` gives it.
/// Returns the first problem found.
pub fn check_downloads(
    downloads: &Path,
    paths: &[String],
    manifest: &Manifest,
) -> Result<(), String> {
    for path in paths {
        let expected = manifest
            .get(path)
            .ok_or_else(|| format!("{path} is not a test file"))?;
        let bytes = std::fs::read(downloads.join(path))
            .map_err(|e| format!("{path} was not downloaded: {e}"))?;
        let got = sha256_hex(&bytes);
        if &got != expected {
            return Err(format!(
                "{path}: {} bytes with SHA-256 {got}, expected {expected}",
                bytes.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_stable_and_distinct() {
        assert_eq!(content("a", 100), content("a", 100));
        assert_ne!(content("a", 100), content("b", 100));
        assert_eq!(content("a", 37).len(), 37);
        assert_eq!(&content("a", 100)[..37], &content("a", 37)[..]);
    }

    #[test]
    fn a_changed_byte_is_caught() {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest = write_all(dir.path()).expect("files written");
        assert_eq!(manifest.len(), SINGLE_FILES.len() + MULTIPLEX_FILES);
        let paths = vec!["5k.bin".to_string()];
        check_downloads(dir.path(), &paths, &manifest).expect("the files themselves pass");
        let mut bytes = std::fs::read(dir.path().join("5k.bin")).expect("read");
        bytes[4000] ^= 1;
        std::fs::write(dir.path().join("5k.bin"), bytes).expect("write");
        assert!(check_downloads(dir.path(), &paths, &manifest).is_err());
    }
}
