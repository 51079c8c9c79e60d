//! The arm64 Image header (Linux `Documentation/arch/arm64/booting.rst`) and where a loader that
//! follows it puts the image, checked against the address hyp-arm is linked at.

use anyhow::{bail, ensure, Result};

/// 2 MiB: the alignment of the base an Image is placed at (its text_offset is added to it).
pub const IMAGE_BASE_ALIGNMENT: u64 = 2 << 20;

/// Flags bit 3: the 2 MiB-aligned base may be anywhere in RAM, not only near its start.
const FLAG_PLACE_ANYWHERE: u64 = 1 << 3;

/// The fields of the header a loader acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    pub text_offset: u64,
    /// Everything the image needs from its start, .bss included.
    pub image_size: u64,
    pub flags: u64,
}

impl ImageHeader {
    /// Reads the header of a raw arm64 Image; `what` names the file in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageHeader> {
        ensure!(
            bytes.len() >= 64 && &bytes[0x38..0x3c] == b"ARM\x64",
            "{what} is not an arm64 Image (no \"ARM\\x64\" magic at offset 0x38)"
        );
        let field = |offset: usize| {
            let mut value = [0u8; 8];
            value.copy_from_slice(&bytes[offset..offset + 8]);
            u64::from_le_bytes(value)
        };
        let header = ImageHeader {
            text_offset: field(8),
            image_size: field(16),
            flags: field(24),
        };
        ensure!(
            header.image_size != 0,
            "{what} has image_size 0: U-Boot's booti would then assume a 16 MiB image at \
             text_offset 0x80000, not where it is linked"
        );
        ensure!(
            header.flags & 1 == 0,
            "{what} says it is big-endian (flags bit 0); hyp-arm is little-endian"
        );
        Ok(header)
    }

    /// Where a loader following the boot protocol places the image (U-Boot's `booti` does so
    /// in `booti_setup`): with flags bit 3 clear, at the 2 MiB-aligned base of the first RAM
    /// bank plus text_offset. With bit 3 set the loader may keep it where it was loaded, which
    /// an image linked at one address cannot allow: that is refused.
    pub fn placed_at(&self, ram_base: u64, what: &str) -> Result<u64> {
        if self.flags & FLAG_PLACE_ANYWHERE != 0 {
            bail!(
                "{what} sets flags bit 3 (may be placed anywhere in RAM), but hyp-arm runs only \
                 at its link address; clear the bit in the image header (arch/entry.rs)"
            );
        }
        Ok(ram_base.next_multiple_of(IMAGE_BASE_ALIGNMENT) + self.text_offset)
    }
}

/// The entry point of a little-endian ELF64 file (`e_entry`), where the raw image was linked to
/// start (hyp-arm's `_start` is the header's first instruction, at the image's first byte).
pub fn elf_entry(elf: &[u8], what: &str) -> Result<u64> {
    ensure!(
        elf.len() >= 0x20 && elf.starts_with(b"\x7fELF") && elf[4] == 2 && elf[5] == 1,
        "{what} is not a little-endian 64-bit ELF file"
    );
    let mut entry = [0u8; 8];
    entry.copy_from_slice(&elf[0x18..0x20]);
    Ok(u64::from_le_bytes(entry))
}

/// Fails unless a loader places the image where it is linked to run.
pub fn check_placement(header: &ImageHeader, ram_base: u64, link_address: u64) -> Result<u64> {
    let placed = header.placed_at(ram_base, "hyp-arm's image")?;
    ensure!(
        placed == link_address,
        "U-Boot's booti would put hyp-arm at {placed:#x} (RAM base {ram_base:#x} rounded up to \
         2 MiB, plus the header's text_offset {:#x}), but it is linked at {link_address:#x}: \
         build the board with a load address of RAM base + text_offset (boards/<board>/build.rs)",
        header.text_offset
    );
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(text_offset: u64, image_size: u64, flags: u64) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[8..16].copy_from_slice(&text_offset.to_le_bytes());
        bytes[16..24].copy_from_slice(&image_size.to_le_bytes());
        bytes[24..32].copy_from_slice(&flags.to_le_bytes());
        bytes[0x38..0x3c].copy_from_slice(b"ARM\x64");
        bytes
    }

    #[test]
    fn hyp_arm_on_qemu_virt_lands_where_it_is_linked() {
        let header = ImageHeader::parse(&image(0x20_0000, 0x9_0000, 0x2), "test").expect("valid");
        assert_eq!(header.text_offset, 0x20_0000);
        assert_eq!(header.image_size, 0x9_0000);
        assert_eq!(
            check_placement(&header, 0x4000_0000, 0x4020_0000).expect("agrees"),
            0x4020_0000
        );
    }

    #[test]
    fn a_link_address_booti_does_not_use_is_refused() {
        let header = ImageHeader::parse(&image(0x8_0000, 0x9_0000, 0x2), "test").expect("valid");
        let error = check_placement(&header, 0x4000_0000, 0x4020_0000).expect_err("mismatch");
        assert!(error.to_string().contains("0x40080000"), "{error}");
    }

    #[test]
    fn unaligned_ram_base_is_rounded_up() {
        let header = ImageHeader::parse(&image(0, 0x1000, 0x2), "test").expect("valid");
        assert_eq!(
            header.placed_at(0x8010_0000, "test").expect("placed"),
            0x8020_0000
        );
    }

    #[test]
    fn bad_headers_are_refused() {
        assert!(ImageHeader::parse(&[0u8; 64], "test").is_err());
        assert!(ImageHeader::parse(&image(0x20_0000, 0, 0x2), "test").is_err());
        assert!(ImageHeader::parse(&image(0x20_0000, 0x1000, 0x3), "test").is_err());
        let anywhere = ImageHeader::parse(&image(0x20_0000, 0x1000, 0xa), "test").expect("valid");
        assert!(anywhere.placed_at(0x4000_0000, "test").is_err());
    }

    #[test]
    fn elf_entry_is_read() {
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x18..0x20].copy_from_slice(&0x4020_0000u64.to_le_bytes());
        assert_eq!(elf_entry(&elf, "test").expect("valid"), 0x4020_0000);
        assert!(elf_entry(b"\x7fELF\x01\x01", "test").is_err());
    }
}
