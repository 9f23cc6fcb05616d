// The aggregates' code version: a hash of every source file of this crate. A snapshot of an
// aggregate's state is only trusted by the code that took it (event-store's `snapshot` module):
// a changed `apply` would read an old snapshot differently from the events it came from.
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src");
    let mut files = vec![];
    collect(Path::new("src"), &mut files);
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in files {
        file.to_string_lossy().hash(&mut hasher);
        std::fs::read(&file)
            .expect("aggregates source readable")
            .hash(&mut hasher);
    }
    println!(
        "cargo:rustc-env=K911_AGGREGATES_CODE={:016x}",
        hasher.finish()
    );
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("aggregates source listable") {
        let path = entry.expect("aggregates source entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}
