//! A disk image with an MBR partition table and one FAT32 boot partition, built without root.
//!
//! The FAT file system comes from `mkfs.vfat -C` (dosfstools) into a file of its own, the files
//! go in with `mcopy` (mtools), and the partition table is written here: an MBR is 512 bytes of
//! which 16 name the partition, so it needs no `sfdisk`/`sgdisk` (which would want a block device
//! or root for some steps) and is unit-tested. MBR rather than GPT because every loader reads
//! it: U-Boot, the Raspberry Pi's boot ROM (which only reads MBR on older EEPROMs) and the
//! vendor boot ROMs of most arm64 boards.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};

use crate::process::{find_program, find_system_program, run};

/// Bytes in a sector; every LBA below counts these.
pub const SECTOR: u64 = 512;

/// Where the first partition starts: 1 MiB, the alignment every partitioning tool uses today
/// (flash erase blocks of SD cards are at most that).
pub const FIRST_PARTITION_OFFSET: u64 = 1 << 20;

/// The smallest FAT32 file system mkfs.vfat makes with 512-byte clusters is about 33 MiB
/// (65525 clusters); 64 MiB leaves room for 4 KiB clusters too.
const MIN_FAT32_SIZE: u64 = 64 << 20;

/// MBR partition type of FAT32 with LBA addressing.
pub const MBR_TYPE_FAT32_LBA: u8 = 0x0c;

/// A file to put on the boot partition, under `name` (no directories: loaders look in `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootFile {
    pub name: String,
    pub source: PathBuf,
}

/// One primary partition in the MBR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MbrPartition {
    /// The "active" flag (0x80): U-Boot's distro boot scans bootable partitions first.
    pub bootable: bool,
    pub partition_type: u8,
    pub first_lba: u32,
    pub sectors: u32,
}

/// The 512-byte master boot record with up to four primary partitions and the disk signature
/// `disk_id` (Linux shows it as the PARTUUID prefix). CHS fields hold the "use LBA" marker
/// 0xfe/0xff/0xff, as all current tools write for partitions beyond the CHS limit.
pub fn master_boot_record(disk_id: u32, partitions: &[MbrPartition]) -> Result<[u8; 512]> {
    ensure!(
        partitions.len() <= 4,
        "an MBR holds at most four primary partitions, not {}",
        partitions.len()
    );
    let mut sector = [0u8; 512];
    sector[440..444].copy_from_slice(&disk_id.to_le_bytes());
    for (index, partition) in partitions.iter().enumerate() {
        ensure!(
            partition.first_lba > 0 && partition.sectors > 0,
            "partition {} is empty or overlaps the MBR (first sector {}, {} sectors)",
            index + 1,
            partition.first_lba,
            partition.sectors
        );
        let entry = &mut sector[446 + 16 * index..446 + 16 * (index + 1)];
        entry[0] = if partition.bootable { 0x80 } else { 0x00 };
        entry[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
        entry[4] = partition.partition_type;
        entry[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
        entry[8..12].copy_from_slice(&partition.first_lba.to_le_bytes());
        entry[12..16].copy_from_slice(&partition.sectors.to_le_bytes());
    }
    sector[510] = 0x55;
    sector[511] = 0xaa;
    Ok(sector)
}

/// The size of a FAT32 partition for `content` bytes of files: twice the content (room to
/// replace a file on the card without deleting first) rounded up to MiB, at least
/// [`MIN_FAT32_SIZE`].
pub fn fat_partition_size(content: u64) -> u64 {
    let mib = 1 << 20;
    (content.saturating_mul(2).div_ceil(mib) * mib).max(MIN_FAT32_SIZE)
}

/// A stable disk signature for `name` (FNV-1a), so that building twice gives the same image.
pub fn disk_id(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// Writes `disk`: an MBR, then at 1 MiB one bootable FAT32 partition labelled `label` holding
/// `files`. `work` is a directory for the partition's image while it is built.
pub fn write_fat_disk(disk: &Path, label: &str, files: &[BootFile], work: &Path) -> Result<()> {
    let mkfs = find_system_program("mkfs.vfat")
        .context("mkfs.vfat (Debian package dosfstools) is not installed")?;
    ensure!(
        find_program("mcopy").is_some(),
        "mcopy (Debian package mtools) is not installed"
    );
    let mut content = 0;
    for file in files {
        let size = fs::metadata(&file.source)
            .with_context(|| format!("cannot read {}", file.source.display()))?
            .len();
        content += size;
    }
    let partition_size = fat_partition_size(content);
    fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let partition = work.join("boot-partition.img");
    if partition.exists() {
        // mkfs.vfat -C refuses to overwrite.
        fs::remove_file(&partition)
            .with_context(|| format!("cannot remove {}", partition.display()))?;
    }
    run(Command::new(mkfs)
        .args(["-F", "32", "-n", label, "-C"])
        .arg(&partition)
        // mkfs.vfat -C takes the size in KiB.
        .arg((partition_size / 1024).to_string()))?;
    for file in files {
        run(Command::new("mcopy")
            // Not a floppy: skip mtools' geometry sanity check.
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(&partition)
            .arg(&file.source)
            .arg(format!("::/{}", file.name)))?;
    }

    let first_lba = FIRST_PARTITION_OFFSET / SECTOR;
    let sectors = partition_size / SECTOR;
    let mbr = master_boot_record(
        disk_id(label),
        &[MbrPartition {
            bootable: true,
            partition_type: MBR_TYPE_FAT32_LBA,
            first_lba: u32::try_from(first_lba).context("partition start beyond 2 TiB")?,
            sectors: u32::try_from(sectors).context("partition larger than 2 TiB")?,
        }],
    )?;
    let mut output =
        File::create(disk).with_context(|| format!("cannot create {}", disk.display()))?;
    let written = (|| -> io::Result<()> {
        output.write_all(&mbr)?;
        output.set_len(FIRST_PARTITION_OFFSET)?;
        let mut output = io::BufWriter::new(&output);
        io::Seek::seek(&mut output, io::SeekFrom::Start(FIRST_PARTITION_OFFSET))?;
        io::copy(&mut File::open(&partition)?, &mut output)?;
        output.flush()
    })();
    written.with_context(|| format!("cannot write {}", disk.display()))?;
    fs::remove_file(&partition)
        .with_context(|| format!("cannot remove {}", partition.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbr_holds_one_bootable_fat32_partition() {
        let partition = MbrPartition {
            bootable: true,
            partition_type: MBR_TYPE_FAT32_LBA,
            first_lba: 2048,
            sectors: 131_072,
        };
        let sector = master_boot_record(0x1234_5678, &[partition]).expect("valid table");
        assert_eq!(&sector[440..444], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(sector[446], 0x80);
        assert_eq!(sector[450], 0x0c);
        assert_eq!(&sector[454..458], &2048u32.to_le_bytes());
        assert_eq!(&sector[458..462], &131_072u32.to_le_bytes());
        // The other three entries are empty.
        assert!(sector[462..510].iter().all(|&byte| byte == 0));
        assert_eq!(&sector[510..], &[0x55, 0xaa]);
    }

    #[test]
    fn mbr_refuses_five_partitions_and_empty_ones() {
        let partition = MbrPartition {
            bootable: false,
            partition_type: 0x83,
            first_lba: 2048,
            sectors: 1,
        };
        assert!(master_boot_record(0, &[partition; 5]).is_err());
        let empty = MbrPartition {
            sectors: 0,
            ..partition
        };
        assert!(master_boot_record(0, &[empty]).is_err());
        let over_mbr = MbrPartition {
            first_lba: 0,
            ..partition
        };
        assert!(master_boot_record(0, &[over_mbr]).is_err());
    }

    #[test]
    fn partition_size_has_room_and_a_floor() {
        assert_eq!(fat_partition_size(0), 64 << 20);
        assert_eq!(fat_partition_size(40 << 20), 80 << 20);
        assert_eq!(fat_partition_size((40 << 20) + 1), 81 << 20);
    }

    #[test]
    fn disk_id_is_stable_and_differs_by_name() {
        assert_eq!(disk_id("HYP-ARM"), disk_id("HYP-ARM"));
        assert_ne!(disk_id("HYP-ARM"), disk_id("HYP-ARN"));
    }
}
