//! Helpers shared by the fuzz targets in src/bin/.

/// A RAM-backed directory when there is one (file I/O dominates the targets that read from a
/// path), else the system temporary directory.
pub fn tmp_dir() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}
