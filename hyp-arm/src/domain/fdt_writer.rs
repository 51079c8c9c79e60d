//! A sequential writer of flattened device trees (v17) into a caller-provided buffer.
//!
//! Layout while writing: header and an empty memory reservation block at the start, the structure
//! block growing up after them, the strings block growing *down* from the end of the buffer (the
//! scheme of libfdt's sequential-write mode). `finish` moves the strings to just after the
//! structure block and rewrites each property's name offset. No heap, and every write is bounds
//! checked: a full buffer is an error, never a panic.
#![forbid(unsafe_code)]

use core::fmt;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_END: u32 = 9;
const HEADER_SIZE: usize = 40;
/// One all-zero entry: an empty memory reservation block.
const RESERVATION_BLOCK_SIZE: usize = 16;
const STRUCTURE_START: usize = HEADER_SIZE + RESERVATION_BLOCK_SIZE;

/// Why writing failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdtWriterError {
    /// The output buffer is full; `capacity` is its size.
    BufferTooSmall { capacity: usize },
    /// The buffer exceeds the 4 GiB an FDT header can describe.
    BufferTooLarge,
    /// A property after a child node, or outside any node (Devicetree Specification 5.4.2).
    MisplacedProperty,
    /// `end_node` with no open node.
    UnbalancedEndNode,
    /// `finish` with nodes still open.
    NodesStillOpen { depth: usize },
    /// A second root node.
    SecondRoot,
    /// A node or property name with a NUL (or '/' in a node name), or an empty property name.
    InvalidName,
}

impl fmt::Display for FdtWriterError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { capacity } => {
                write!(formatter, "the {capacity}-byte output buffer is too small")
            }
            Self::BufferTooLarge => formatter
                .write_str("output buffers over 4 GiB cannot be described by an FDT header"),
            Self::MisplacedProperty => {
                formatter.write_str("property written after a child node or outside any node")
            }
            Self::UnbalancedEndNode => formatter.write_str("end_node without an open node"),
            Self::NodesStillOpen { depth } => {
                write!(formatter, "finish with {depth} nodes still open")
            }
            Self::SecondRoot => formatter.write_str("a second root node"),
            Self::InvalidName => formatter.write_str("a name is empty or contains NUL or '/'"),
        }
    }
}

/// Writes one device tree into `buffer`; see the module documentation for the layout.
pub struct FdtWriter<'buffer> {
    buffer: &'buffer mut [u8],
    /// End of the structure block written so far.
    structure_end: usize,
    /// Start of the strings block (it occupies `strings_start..buffer.len()`).
    strings_start: usize,
    depth: usize,
    roots: usize,
    /// True right after BEGIN_NODE or a property: where a property may go.
    property_allowed: bool,
}

impl<'buffer> FdtWriter<'buffer> {
    /// Starts a tree in `buffer`, which must hold at least the header and reservation block.
    pub fn new(buffer: &'buffer mut [u8]) -> Result<Self, FdtWriterError> {
        if u32::try_from(buffer.len()).is_err() {
            return Err(FdtWriterError::BufferTooLarge);
        }
        let capacity = buffer.len();
        let prefix = buffer
            .get_mut(..STRUCTURE_START)
            .ok_or(FdtWriterError::BufferTooSmall { capacity })?;
        prefix.fill(0);
        Ok(Self {
            strings_start: capacity,
            buffer,
            structure_end: STRUCTURE_START,
            depth: 0,
            roots: 0,
            property_allowed: false,
        })
    }

    fn too_small(&self) -> FdtWriterError {
        FdtWriterError::BufferTooSmall {
            capacity: self.buffer.len(),
        }
    }

    /// Appends `bytes` to the structure block, then zero padding to a 4-byte boundary.
    fn append(&mut self, bytes: &[u8]) -> Result<(), FdtWriterError> {
        let end = self
            .structure_end
            .checked_add(bytes.len())
            .ok_or(self.too_small())?;
        let padded_end = end.checked_add(3).ok_or(self.too_small())? & !3;
        if padded_end > self.strings_start {
            return Err(self.too_small());
        }
        self.buffer[self.structure_end..end].copy_from_slice(bytes);
        self.buffer[end..padded_end].fill(0);
        self.structure_end = padded_end;
        Ok(())
    }

    fn append_u32(&mut self, value: u32) -> Result<(), FdtWriterError> {
        self.append(&value.to_be_bytes())
    }

    /// Opens a node; the root's name is "".
    pub fn begin_node(&mut self, name: &str) -> Result<(), FdtWriterError> {
        if name.contains(['\0', '/']) {
            return Err(FdtWriterError::InvalidName);
        }
        if self.depth == 0 {
            if self.roots > 0 {
                return Err(FdtWriterError::SecondRoot);
            }
            self.roots += 1;
        }
        self.append_u32(FDT_BEGIN_NODE)?;
        // The name and its NUL terminator: when the name's length is not a multiple of 4, the
        // padding `append` adds holds the terminator; otherwise add a padded NUL word.
        self.append(name.as_bytes())?;
        if name.len().is_multiple_of(4) {
            self.append(&[0])?;
        }
        self.depth += 1;
        self.property_allowed = true;
        Ok(())
    }

    /// Closes the innermost open node.
    pub fn end_node(&mut self) -> Result<(), FdtWriterError> {
        if self.depth == 0 {
            return Err(FdtWriterError::UnbalancedEndNode);
        }
        self.append_u32(FDT_END_NODE)?;
        self.depth -= 1;
        self.property_allowed = false;
        Ok(())
    }

    /// Writes a property's token, length and name, leaving room for a `length`-byte value that
    /// the caller appends. Checks the whole property fits before writing anything.
    fn property_header(&mut self, name: &str, length: usize) -> Result<(), FdtWriterError> {
        if !self.property_allowed || self.depth == 0 {
            return Err(FdtWriterError::MisplacedProperty);
        }
        if name.is_empty() || name.contains('\0') {
            return Err(FdtWriterError::InvalidName);
        }
        let length_field = u32::try_from(length).map_err(|_| self.too_small())?;
        let name_position = self.intern(name)?;
        let needed = length.checked_add(12 + 3).ok_or(self.too_small())? & !3;
        if self.strings_start - self.structure_end < needed {
            return Err(self.too_small());
        }
        self.append_u32(FDT_PROP)?;
        self.append_u32(length_field)?;
        // Until `finish`, the name offset holds the string's distance from the end of the buffer.
        self.append_u32((self.buffer.len() - name_position) as u32)
    }

    /// Copies `bytes` to the end of the structure block without padding (space already checked
    /// by `property_header`).
    fn append_unpadded(&mut self, bytes: &[u8]) {
        let end = self.structure_end + bytes.len();
        self.buffer[self.structure_end..end].copy_from_slice(bytes);
        self.structure_end = end;
    }

    /// Pads the structure block to a 4-byte boundary after a value.
    fn pad(&mut self) {
        let padded_end = (self.structure_end + 3) & !3;
        self.buffer[self.structure_end..padded_end].fill(0);
        self.structure_end = padded_end;
    }

    /// Adds a property with a raw value to the open node.
    pub fn property(&mut self, name: &str, value: &[u8]) -> Result<(), FdtWriterError> {
        self.property_header(name, value.len())?;
        self.append_unpadded(value);
        self.pad();
        Ok(())
    }

    /// A property of one cell.
    pub fn property_u32(&mut self, name: &str, value: u32) -> Result<(), FdtWriterError> {
        self.property(name, &value.to_be_bytes())
    }

    /// A property of two cells (a 64-bit value).
    pub fn property_u64(&mut self, name: &str, value: u64) -> Result<(), FdtWriterError> {
        self.property(name, &value.to_be_bytes())
    }

    /// A property of several cells.
    pub fn property_cells(&mut self, name: &str, cells: &[u32]) -> Result<(), FdtWriterError> {
        self.property_header(name, cells.len().checked_mul(4).ok_or(self.too_small())?)?;
        for cell in cells {
            self.append_unpadded(&cell.to_be_bytes());
        }
        Ok(())
    }

    /// A NUL-terminated string property.
    pub fn property_string(&mut self, name: &str, value: &str) -> Result<(), FdtWriterError> {
        self.property_string_list(name, &[value])
    }

    /// A list of NUL-terminated strings, as in `compatible`.
    pub fn property_string_list(
        &mut self,
        name: &str,
        values: &[&str],
    ) -> Result<(), FdtWriterError> {
        if values.iter().any(|value| value.contains('\0')) {
            return Err(FdtWriterError::InvalidName);
        }
        let length = values
            .iter()
            .try_fold(0usize, |sum, value| sum.checked_add(value.len() + 1));
        self.property_header(name, length.ok_or(self.too_small())?)?;
        for value in values {
            self.append_unpadded(value.as_bytes());
            self.append_unpadded(&[0]);
        }
        self.pad();
        Ok(())
    }

    /// An empty (boolean) property such as `interrupt-controller`.
    pub fn property_empty(&mut self, name: &str) -> Result<(), FdtWriterError> {
        self.property(name, &[])
    }

    /// Position of `name` in the strings area, adding it when it is new.
    fn intern(&mut self, name: &str) -> Result<usize, FdtWriterError> {
        let strings = &self.buffer[self.strings_start..];
        let mut offset = 0;
        for string in strings.split(|&byte| byte == 0) {
            if string == name.as_bytes() && offset + string.len() < strings.len() {
                return Ok(self.strings_start + offset);
            }
            offset += string.len() + 1;
        }
        let needed = name.len() + 1;
        let new_start = self
            .strings_start
            .checked_sub(needed)
            .ok_or(self.too_small())?;
        if new_start < self.structure_end {
            return Err(self.too_small());
        }
        self.buffer[new_start..new_start + name.len()].copy_from_slice(name.as_bytes());
        self.buffer[new_start + name.len()] = 0;
        self.strings_start = new_start;
        Ok(new_start)
    }

    /// Writes FDT_END, moves the strings after the structure block, fixes name offsets and
    /// writes the header. Returns the blob's total size.
    pub fn finish(mut self) -> Result<usize, FdtWriterError> {
        if self.depth != 0 {
            return Err(FdtWriterError::NodesStillOpen { depth: self.depth });
        }
        if self.roots == 0 {
            // An empty tree is still a tree: give it a root.
            self.begin_node("")?;
            self.end_node()?;
        }
        self.append_u32(FDT_END)?;
        let structure_size = self.structure_end - STRUCTURE_START;
        let strings_size = self.buffer.len() - self.strings_start;
        self.buffer
            .copy_within(self.strings_start.., self.structure_end);
        let strings_offset = self.structure_end;
        self.fix_name_offsets(strings_offset, strings_size);
        let total_size = strings_offset + strings_size;
        let header = [
            FDT_MAGIC,
            total_size as u32,
            STRUCTURE_START as u32,
            strings_offset as u32,
            HEADER_SIZE as u32,
            17,
            16,
            0,
            strings_size as u32,
            structure_size as u32,
        ];
        for (chunk, field) in self.buffer[..HEADER_SIZE].chunks_exact_mut(4).zip(header) {
            chunk.copy_from_slice(&field.to_be_bytes());
        }
        Ok(total_size)
    }

    /// Turns each property's "distance from the buffer end" into an offset in the strings block.
    fn fix_name_offsets(&mut self, strings_offset: usize, strings_size: usize) {
        let read = |buffer: &[u8], at: usize| {
            u32::from_be_bytes([buffer[at], buffer[at + 1], buffer[at + 2], buffer[at + 3]])
        };
        let mut position = STRUCTURE_START;
        // The structure block is our own output, so its tokens are well formed.
        while position < strings_offset {
            match read(self.buffer, position) {
                FDT_BEGIN_NODE => {
                    let name_length = self.buffer[position + 4..]
                        .iter()
                        .position(|&byte| byte == 0)
                        .unwrap_or(0);
                    position = (position + 4 + name_length + 1 + 3) & !3;
                }
                FDT_PROP => {
                    let length = read(self.buffer, position + 4) as usize;
                    let distance = read(self.buffer, position + 8) as usize;
                    // The string sat `distance` bytes before the buffer's end, and the block
                    // started `strings_size` bytes before it.
                    let offset = strings_size - distance;
                    self.buffer[position + 8..position + 12]
                        .copy_from_slice(&(offset as u32).to_be_bytes());
                    position = (position + 12 + length + 3) & !3;
                }
                _ => position += 4,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(buffer: &mut [u8]) -> Result<usize, FdtWriterError> {
        let mut writer = FdtWriter::new(buffer)?;
        writer.begin_node("")?;
        writer.property_u32("#address-cells", 2)?;
        writer.property_u32("#size-cells", 2)?;
        writer.property_string_list("compatible", &["linux,dummy-virt", "hyp-arm,guest"])?;
        writer.begin_node("memory@40000000")?;
        writer.property_string("device_type", "memory")?;
        writer.property_cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])?;
        writer.end_node()?;
        writer.begin_node("chosen")?;
        writer.property_string("bootargs", "console=ttyAMA0")?;
        writer.property_u64("linux,initrd-start", 0x4800_0000)?;
        writer.property_empty("ranges")?;
        writer.end_node()?;
        writer.begin_node("cpus")?;
        writer.property_u32("#address-cells", 1)?;
        writer.property_u32("#size-cells", 0)?;
        writer.end_node()?;
        writer.end_node()?;
        writer.finish()
    }

    #[test]
    fn output_parses_with_the_fdt_crate_and_shares_strings() {
        let mut buffer = [0xa5u8; 1024];
        let size = sample(&mut buffer).expect("fits");
        let blob = &buffer[..size];
        let fdt = fdt::Fdt::new(blob).expect("valid FDT");
        assert_eq!(fdt.total_size(), size);
        let root = fdt.find_node("/").expect("root");
        assert_eq!(
            root.property("#address-cells").and_then(|p| p.as_usize()),
            Some(2)
        );
        let compatible: Vec<_> = root.compatible().expect("compatible").all().collect();
        assert_eq!(compatible, ["linux,dummy-virt", "hyp-arm,guest"]);
        let memory = fdt.find_node("/memory@40000000").expect("memory");
        let region = memory.reg().expect("reg").next().expect("one region");
        assert_eq!(
            (region.starting_address as usize, region.size),
            (0x4000_0000, Some(0x1000_0000))
        );
        let chosen = fdt.find_node("/chosen").expect("chosen");
        assert_eq!(
            chosen.property("bootargs").and_then(|p| p.as_str()),
            Some("console=ttyAMA0")
        );
        assert_eq!(
            chosen
                .property("linux,initrd-start")
                .and_then(|p| p.as_usize()),
            Some(0x4800_0000)
        );
        assert_eq!(chosen.property("ranges").map(|p| p.value.len()), Some(0));
        // "#address-cells" and "#size-cells" are stored once although used twice.
        assert_eq!(
            fdt.strings()
                .filter(|string| *string == "#address-cells")
                .count(),
            1
        );
        // Our own validator (the one the platform parser trusts) accepts it too.
        crate::platform::blob::validate(blob).expect("passes validation");
    }

    #[test]
    fn every_too_small_buffer_is_an_error() {
        let mut buffer = [0u8; 1024];
        let size = sample(&mut buffer).expect("fits");
        for capacity in 0..size {
            let mut small = vec![0u8; capacity];
            assert_eq!(
                sample(&mut small),
                Err(FdtWriterError::BufferTooSmall { capacity }),
                "capacity {capacity}"
            );
        }
        let mut exact = vec![0u8; size];
        assert_eq!(sample(&mut exact), Ok(size));
    }

    #[test]
    fn misuse_is_reported() {
        let mut buffer = [0u8; 256];
        let mut writer = FdtWriter::new(&mut buffer).expect("room");
        assert_eq!(
            writer.property_u32("x", 1),
            Err(FdtWriterError::MisplacedProperty)
        );
        assert_eq!(writer.end_node(), Err(FdtWriterError::UnbalancedEndNode));
        writer.begin_node("").expect("root");
        writer.begin_node("child").expect("child");
        assert_eq!(writer.begin_node("a/b"), Err(FdtWriterError::InvalidName));
        writer.end_node().expect("close child");
        assert_eq!(
            writer.property_u32("late", 1),
            Err(FdtWriterError::MisplacedProperty)
        );
        assert_eq!(
            writer.finish(),
            Err(FdtWriterError::NodesStillOpen { depth: 1 })
        );
    }
}
