//! Where a guest's kernel, device tree and initrd go in its RAM, following the arm64 boot
//! protocol (Linux Documentation/arch/arm64/booting.rst).
//!
//! Layout from the bottom of RAM: the kernel at a 2 MiB-aligned base + `text_offset`, with room
//! for its whole `image_size` (which includes .bss, so it exceeds the file); the DTB at the next
//! 2 MiB boundary (booting.rst: the DTB is mapped with 2 MiB blocks, so it gets a block of its
//! own); the initrd on the next page after the DTB's maximum size.
#![forbid(unsafe_code)]

use core::fmt;

use crate::platform::MemoryRange;

/// Size of the arm64 Image header.
pub const IMAGE_HEADER_SIZE: usize = 64;
/// Image magic "ARM\x64" at offset 0x38, read little-endian.
pub const IMAGE_MAGIC: u32 = 0x644d_5241;
/// The kernel's base (before `text_offset`) and the DTB are 2 MiB aligned.
pub const BLOCK_SIZE: u64 = 2 * 1024 * 1024;
/// The largest DTB the boot protocol allows.
pub const MAX_DTB_SIZE: u64 = 2 * 1024 * 1024;
/// The initrd starts on a page boundary (4 KiB, the smallest granule).
pub const INITRD_ALIGNMENT: u64 = 4096;
/// `text_offset` assumed for kernels before 3.17, whose header has `image_size` = 0.
pub const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;

/// The fields of an arm64 Image header that placement needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    /// Offset of the image from a 2 MiB-aligned base.
    pub text_offset: u64,
    /// Bytes the kernel occupies once running (file + .bss); 0 for kernels before 3.17.
    pub image_size: u64,
    /// Bit 0: big-endian kernel.
    pub big_endian: bool,
    /// Bits 1-2: the kernel's page size (0 unspecified, 1 = 4K, 2 = 16K, 3 = 64K).
    pub page_size_code: u8,
    /// Bit 3: the kernel may sit anywhere in RAM, not only near its start.
    pub placement_anywhere: bool,
}

impl ImageHeader {
    /// Parses the first 64 bytes of an arm64 Linux Image (all fields little-endian).
    pub fn parse(header: &[u8]) -> Result<Self, BootLayoutError> {
        let field = |offset: usize| -> Option<u64> {
            let bytes = header.get(offset..offset + 8)?;
            Some(u64::from_le_bytes([
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            ]))
        };
        let (Some(text_offset), Some(image_size), Some(flags), Some(magic_word)) =
            (field(8), field(16), field(24), field(0x38))
        else {
            return Err(BootLayoutError::HeaderTooShort {
                length: header.len(),
            });
        };
        if magic_word as u32 != IMAGE_MAGIC {
            return Err(BootLayoutError::BadMagic);
        }
        Ok(Self {
            text_offset,
            image_size,
            big_endian: flags & 1 != 0,
            page_size_code: ((flags >> 1) & 3) as u8,
            placement_anywhere: flags & (1 << 3) != 0,
        })
    }
}

/// Where everything goes (all guest physical addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootLayout {
    /// The kernel's footprint: load the file at `kernel.base` and enter there (x0 = DTB).
    pub kernel: MemoryRange,
    /// Room reserved for the DTB (its maximum size), 2 MiB aligned.
    pub dtb: MemoryRange,
    pub initrd: Option<MemoryRange>,
    pub header: ImageHeader,
}

/// Why a layout is impossible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootLayoutError {
    /// Fewer than 64 header bytes.
    HeaderTooShort { length: usize },
    /// No "ARM\x64" at offset 0x38.
    BadMagic,
    /// The header's `image_size` is smaller than the file.
    ImageSizeBelowFileSize { image_size: u64, kernel_length: u64 },
    /// The DTB may be larger than the boot protocol's 2 MiB.
    DtbTooLarge { dtb_max_length: u64 },
    /// Kernel, DTB and initrd need more RAM than the guest has (both counted from its base).
    DoesNotFit { needed: u64, available: u64 },
}

impl fmt::Display for BootLayoutError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeaderTooShort { length } => {
                write!(formatter, "kernel header is {length} bytes; an arm64 Image header is {IMAGE_HEADER_SIZE}")
            }
            Self::BadMagic => formatter.write_str("not an arm64 Linux Image: magic missing at offset 0x38"),
            Self::ImageSizeBelowFileSize { image_size, kernel_length } => write!(
                formatter,
                "arm64 Image header says image_size {image_size:#x}, smaller than the {kernel_length:#x}-byte file"
            ),
            Self::DtbTooLarge { dtb_max_length } => write!(
                formatter,
                "a guest DTB of up to {dtb_max_length:#x} bytes exceeds the boot protocol's 2 MiB limit"
            ),
            Self::DoesNotFit { needed, available } => write!(
                formatter,
                "kernel, DTB and initrd need {needed:#x} bytes ({} MiB) of guest RAM, but it has {available:#x} ({} MiB)",
                needed.div_ceil(1 << 20),
                available >> 20
            ),
        }
    }
}

fn align_up(value: u64, alignment: u64) -> Option<u64> {
    Some(value.checked_add(alignment - 1)? & !(alignment - 1))
}

/// Plans the guest's boot images in `ram` for a kernel whose file starts with `kernel_header`
/// and is `kernel_length` bytes long, an optional initrd and a DTB of at most `dtb_max_length`.
pub fn plan_boot_layout(
    ram: MemoryRange,
    kernel_header: &[u8],
    kernel_length: u64,
    initrd_length: Option<u64>,
    dtb_max_length: u64,
) -> Result<BootLayout, BootLayoutError> {
    let header = ImageHeader::parse(kernel_header)?;
    let (text_offset, footprint) = if header.image_size == 0 {
        // Before 3.17: text_offset had no defined endianness (booting.rst says assume 0x80000)
        // and the bss size is unknown; the gap up to the DTB's 2 MiB boundary is the only slack.
        (LEGACY_TEXT_OFFSET, kernel_length)
    } else if header.image_size < kernel_length {
        return Err(BootLayoutError::ImageSizeBelowFileSize {
            image_size: header.image_size,
            kernel_length,
        });
    } else {
        (header.text_offset, header.image_size)
    };
    if dtb_max_length > MAX_DTB_SIZE {
        return Err(BootLayoutError::DtbTooLarge { dtb_max_length });
    }
    // Any arithmetic overflow means the images cannot fit below 2^64, let alone in `ram`.
    let overflow = BootLayoutError::DoesNotFit {
        needed: u64::MAX,
        available: ram.size,
    };
    let kernel_base = align_up(ram.base, BLOCK_SIZE)
        .and_then(|base| base.checked_add(text_offset))
        .ok_or(overflow)?;
    let kernel = MemoryRange::new(kernel_base, footprint);
    let dtb_base = kernel_base
        .checked_add(footprint)
        .and_then(|end| align_up(end, BLOCK_SIZE))
        .ok_or(overflow)?;
    let dtb = MemoryRange::new(dtb_base, dtb_max_length);
    let mut end = dtb_base.checked_add(dtb_max_length).ok_or(overflow)?;
    let initrd = match initrd_length {
        None => None,
        Some(length) => {
            let base = align_up(end, INITRD_ALIGNMENT).ok_or(overflow)?;
            end = base.checked_add(length).ok_or(overflow)?;
            Some(MemoryRange::new(base, length))
        }
    };
    let needed = end - ram.base;
    if needed > ram.size {
        return Err(BootLayoutError::DoesNotFit {
            needed,
            available: ram.size,
        });
    }
    Ok(BootLayout {
        kernel,
        dtb,
        initrd,
        header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 64 bytes of Debian's vmlinuz-6.1.0-56-arm64 (an uncompressed, EFI-stub Image).
    const DEBIAN_6_1_HEADER: [u8; 64] = [
        0x4d, 0x5a, 0x40, 0xfa, 0x56, 0xa3, 0x59, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, //
        0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x41, 0x52, 0x4d, 0x64, 0x40, 0x00, 0x00,
        0x00, //
    ];
    /// Its file size.
    const DEBIAN_6_1_LENGTH: u64 = 32_956_352;

    fn synthetic_header(text_offset: u64, image_size: u64, flags: u64) -> [u8; 64] {
        let mut header = [0u8; 64];
        header[8..16].copy_from_slice(&text_offset.to_le_bytes());
        header[16..24].copy_from_slice(&image_size.to_le_bytes());
        header[24..32].copy_from_slice(&flags.to_le_bytes());
        header[0x38..0x3c].copy_from_slice(b"ARMd");
        header
    }

    const RAM: MemoryRange = MemoryRange::new(0x4000_0000, 0x2000_0000);

    #[test]
    fn debian_kernel_header_is_read_and_placed() {
        let header = ImageHeader::parse(&DEBIAN_6_1_HEADER).expect("valid header");
        assert_eq!(
            header,
            ImageHeader {
                text_offset: 0,
                image_size: 0x201_0000,
                big_endian: false,
                page_size_code: 1,
                placement_anywhere: true
            }
        );
        let layout = plan_boot_layout(
            RAM,
            &DEBIAN_6_1_HEADER,
            DEBIAN_6_1_LENGTH,
            Some(0xf_12dc),
            0x1_0000,
        )
        .expect("fits");
        assert_eq!(layout.kernel, MemoryRange::new(0x4000_0000, 0x201_0000));
        // 0x42010000 rounded up to the next 2 MiB.
        assert_eq!(layout.dtb, MemoryRange::new(0x4220_0000, 0x1_0000));
        assert_eq!(layout.initrd, Some(MemoryRange::new(0x4221_0000, 0xf_12dc)));
    }

    #[test]
    fn text_offset_and_unaligned_ram_base() {
        let header = synthetic_header(0x8_0000, 0x10_0000, 0);
        let ram = MemoryRange::new(0x4010_0000, 0x1000_0000);
        let layout = plan_boot_layout(ram, &header, 0x8_0000, None, MAX_DTB_SIZE).expect("fits");
        assert_eq!(layout.kernel, MemoryRange::new(0x4028_0000, 0x10_0000));
        assert_eq!(layout.dtb, MemoryRange::new(0x4040_0000, MAX_DTB_SIZE));
        assert_eq!(layout.initrd, None);
        // The initrd's start is page aligned even after an odd-sized DTB.
        let layout = plan_boot_layout(ram, &header, 0x8_0000, Some(10), 0x123).expect("fits");
        assert_eq!(layout.initrd, Some(MemoryRange::new(0x4040_1000, 10)));
    }

    #[test]
    fn pre_3_17_kernels_use_the_legacy_text_offset_and_file_length() {
        let header = synthetic_header(0xdead_beef, 0, 0);
        let layout = plan_boot_layout(RAM, &header, 0x30_0000, None, 0x1000).expect("fits");
        assert_eq!(layout.kernel, MemoryRange::new(0x4008_0000, 0x30_0000));
        assert_eq!(layout.dtb.base, 0x4040_0000);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let good = synthetic_header(0, 0x201_0000, 0xa);
        let error = |result: Result<BootLayout, BootLayoutError>| {
            result.expect_err("must fail").to_string()
        };
        let mut not_an_image = good;
        not_an_image[0x38] = b'X';
        assert_eq!(
            error(plan_boot_layout(RAM, &not_an_image, 1, None, 1)),
            "not an arm64 Linux Image: magic missing at offset 0x38"
        );
        assert_eq!(
            error(plan_boot_layout(RAM, &good[..40], 1, None, 1)),
            "kernel header is 40 bytes; an arm64 Image header is 64"
        );
        let small_ram = MemoryRange::new(0x4000_0000, 0x200_0000);
        assert_eq!(
            error(plan_boot_layout(small_ram, &good, 0x100_0000, Some(0x10_0000), 0x1_0000)),
            "kernel, DTB and initrd need 0x2310000 bytes (36 MiB) of guest RAM, but it has 0x2000000 (32 MiB)"
        );
        assert_eq!(
            error(plan_boot_layout(RAM, &good, 0x300_0000, None, 1)),
            "arm64 Image header says image_size 0x2010000, smaller than the 0x3000000-byte file"
        );
        assert_eq!(
            error(plan_boot_layout(RAM, &good, 1, None, MAX_DTB_SIZE + 1)),
            "a guest DTB of up to 0x200001 bytes exceeds the boot protocol's 2 MiB limit"
        );
        let huge_offset = synthetic_header(u64::MAX - 10, 0x1000, 0);
        assert!(matches!(
            plan_boot_layout(RAM, &huge_offset, 1, None, 1),
            Err(BootLayoutError::DoesNotFit { .. })
        ));
        let top = MemoryRange::new(u64::MAX - 0x1f_ffff, 0x20_0000);
        assert!(matches!(
            plan_boot_layout(top, &good, 1, None, 1),
            Err(BootLayoutError::DoesNotFit { .. })
        ));
    }
}
