//! Disk images (`open-nsynth image --base`): any bytes as a disk, through the partition table
//! and every FAT partition's `config.txt` and `cmdline.txt`, as the image command reads a base.
//! Nothing may panic, whatever the table or the file systems claim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use open_nsynth::disk::fat::Fat;
use open_nsynth::disk::Disk;

fuzz_target!(|data: &[u8]| {
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), data).expect("written");
    let Ok(disk) = Disk::open(file.path()) else {
        return;
    };
    let _ = disk.id();
    for partition in disk.partitions() {
        if !partition.is_fat() {
            continue;
        }
        if let Ok(fat) = Fat::open(&disk, partition) {
            let _ = fat.read("config.txt");
            let _ = fat.read("cmdline.txt");
        }
    }
});
