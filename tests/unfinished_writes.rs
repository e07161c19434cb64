//! `atomic::remove_unfinished`, which a process ending on a signal calls: in a process of its
//! own, since it refuses every write after it.

use std::io::Write as _;

use open_nsynth::atomic::{remove_unfinished, write_bytes, AtomicFile, Mode, PARTIAL_SUFFIX};

#[test]
fn writes_under_way_are_removed_and_later_ones_refused() {
    let folder = tempfile::tempdir().unwrap();
    let names = || {
        let mut names: Vec<String> = std::fs::read_dir(folder.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    write_bytes(&folder.path().join("done.bin"), b"done", Mode::Keep).unwrap();
    let mut pad = AtomicFile::create(&folder.path().join("pad.bin")).unwrap();
    pad.write_all(&[7; 3000]).unwrap();
    pad.flush().unwrap();
    let abandoned = AtomicFile::create(&folder.path().join("dropped.bin")).unwrap();
    drop(abandoned);
    assert_eq!(names().len(), 2);
    assert!(names()[1].ends_with(PARTIAL_SUFFIX), "{:?}", names());

    let removed = remove_unfinished();
    assert_eq!(removed.len(), 1);
    assert!(removed[0].starts_with(folder.path()));
    assert_eq!(names(), ["done.bin"]);

    let error = AtomicFile::create(&folder.path().join("late.bin"))
        .err()
        .unwrap();
    assert_eq!(error.cause.kind(), std::io::ErrorKind::Interrupted);
    assert!(pad.commit().is_err(), "its partial file is gone");
    assert_eq!(names(), ["done.bin"]);
    assert!(remove_unfinished().is_empty());
}
