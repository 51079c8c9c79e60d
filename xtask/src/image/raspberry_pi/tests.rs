//! The SD card's layout: config.txt's keys, the device tree's placement, and a card written
//! from a few files and read back with mtools (the partition table itself: `disk`'s tests).

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use super::*;

fn keys(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('['))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[test]
fn config_txt_asks_for_a_64_bit_el2_start_at_the_link_address() {
    let config = ConfigTxt {
        kernel_address: KERNEL_ADDRESS,
        device_tree_address: 0x280_0000,
    };
    let text = config.text();
    assert!(text.contains("\n[pi4]\n"), "settings apply to the Pi 4");
    let found = keys(&text);
    let expected: BTreeMap<String, String> = [
        ("arm_64bit", "1"),
        ("kernel", "kernel8.img"),
        ("kernel_address", "0x200000"),
        ("device_tree", "bcm2711-rpi-4-b.dtb"),
        ("device_tree_address", "0x2800000"),
        ("enable_gic", "1"),
        ("enable_uart", "1"),
        ("uart_2ndstage", "1"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value.to_string()))
    .collect();
    assert_eq!(found, expected);
}

#[test]
fn the_device_tree_goes_two_mib_past_the_image_and_its_bss() {
    assert_eq!(device_tree_address(0x20_0000, 0x240_0000), 0x280_0000);
    assert_eq!(device_tree_address(0x20_0000, 0x240_0001), 0x2a0_0000);
}

#[test]
fn a_card_holds_its_files_in_the_fat_partition() {
    let dir = std::env::temp_dir().join(format!("hyp-arm-rpi4-card-{}", std::process::id()));
    let files = dir.join("sd");
    fs::create_dir_all(&files).unwrap();
    let config = ConfigTxt {
        kernel_address: KERNEL_ADDRESS,
        device_tree_address: 0x400_0000,
    }
    .text();
    fs::write(files.join("config.txt"), &config).unwrap();
    fs::write(files.join("kernel8.img"), vec![0xa5u8; 300_000]).unwrap();
    fs::write(files.join("README.txt"), readme(false)).unwrap();
    let card = dir.join("sd.img");
    write_card(&files, &card).expect("mkfs.vfat and mcopy are installed");

    let disk = fs::read(&card).unwrap();
    let start = u32::from_le_bytes(disk[454..458].try_into().unwrap()) as usize;
    let sectors = u32::from_le_bytes(disk[458..462].try_into().unwrap()) as usize;
    assert_eq!(start, 2048);
    assert_eq!(
        disk.len(),
        (start + sectors) * 512,
        "the partition fills the card"
    );
    assert_eq!(disk[446], 0x80, "bootable");
    assert_eq!(disk[450], 0x0c, "FAT32 with LBA");
    // The partition's boot sector says FAT32.
    let boot = &disk[start * 512..start * 512 + 512];
    assert_eq!(&boot[82..90], b"FAT32   ");
    let image = format!("{}@@{}", card.display(), start * 512);
    let read_back = |name: &str| {
        let output = Command::new("mtype")
            .args(["-i", &image])
            .arg(format!("::{name}"))
            .output()
            .expect("mtools is installed");
        assert!(output.status.success(), "{name} is on the card");
        output.stdout
    };
    assert_eq!(read_back("config.txt"), config.as_bytes());
    assert_eq!(read_back("kernel8.img").len(), 300_000);
    let readme = String::from_utf8(read_back("README.txt")).unwrap();
    assert!(readme.contains("start4.elf") && readme.contains("NOT INCLUDED"));
    fs::remove_dir_all(&dir).unwrap();
}
