//! A writer for the cpio "newc" archive format, the one the Linux kernel unpacks as initramfs.
//!
//! Format: Linux `Documentation/driver-api/early-userspace/buffer-format.rst`. Each entry is a
//! 110-byte ASCII header ("070701" and 13 fields of 8 hex digits), the NUL-terminated name padded
//! to a multiple of 4 bytes (counting the header), then the data padded to a multiple of 4.
//! Names have no leading `/`, and a directory must come before what it contains.

use std::io::{self, Write};

const MAGIC: &str = "070701";
const HEADER_SIZE: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// File type bits of `st_mode` (POSIX `<sys/stat.h>`).
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Writes entries one after another; [`Writer::finish`] adds the trailer.
pub struct Writer<W: Write> {
    output: W,
    written: usize,
    next_inode: u32,
}

impl<W: Write> Writer<W> {
    pub fn new(output: W) -> Self {
        Writer {
            output,
            written: 0,
            next_inode: 1,
        }
    }

    /// A directory; `permissions` such as 0o755.
    pub fn directory(&mut self, name: &str, permissions: u32) -> io::Result<()> {
        self.entry(name, S_IFDIR | permissions, 2, (0, 0), &[])
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, permissions: u32, data: &[u8]) -> io::Result<()> {
        self.entry(name, S_IFREG | permissions, 1, (0, 0), data)
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.entry(name, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes())
    }

    /// A character device node with the given major and minor numbers.
    pub fn char_device(
        &mut self,
        name: &str,
        permissions: u32,
        major: u32,
        minor: u32,
    ) -> io::Result<()> {
        self.entry(name, S_IFCHR | permissions, 1, (major, minor), &[])
    }

    /// Writes the trailer entry and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.next_inode = 0;
        self.entry(TRAILER, 0, 1, (0, 0), &[])?;
        Ok(self.output)
    }

    fn entry(
        &mut self,
        name: &str,
        mode: u32,
        links: u32,
        (device_major, device_minor): (u32, u32),
        data: &[u8],
    ) -> io::Result<()> {
        let too_big = |what| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: {what} too large for cpio"),
            )
        };
        let file_size = u32::try_from(data.len()).map_err(|_| too_big("data"))?;
        let name_size = u32::try_from(name.len() + 1).map_err(|_| too_big("name"))?;
        let inode = self.next_inode;
        self.next_inode += 1;
        let fields = [
            inode,
            mode,
            0, // uid: root
            0, // gid: root
            links,
            0, // mtime: fixed, so that the same inputs give the same archive
            file_size,
            0, // major of the device holding the file
            0, // minor of the device holding the file
            device_major,
            device_minor,
            name_size,
            0, // checksum: only for the "070702" variant
        ];
        let mut header = String::with_capacity(HEADER_SIZE);
        header.push_str(MAGIC);
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.write(header.as_bytes())?;
        self.write(name.as_bytes())?;
        self.write(&[0])?;
        self.pad()?;
        self.write(data)?;
        self.pad()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.output.write_all(bytes)?;
        self.written += bytes.len();
        Ok(())
    }

    /// Zero bytes up to the next multiple of 4.
    fn pad(&mut self) -> io::Result<()> {
        let padding = (4 - self.written % 4) % 4;
        self.write(&[0; 3][..padding])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field `index` (0 = inode) of the header starting at `at`.
    fn field(archive: &[u8], at: usize, index: usize) -> u32 {
        let start = at + MAGIC.len() + 8 * index;
        let text = std::str::from_utf8(&archive[start..start + 8]).unwrap();
        u32::from_str_radix(text, 16).unwrap()
    }

    #[test]
    fn file_entry_layout() {
        let mut writer = Writer::new(Vec::new());
        writer.file("bin/x", 0o755, b"hello").unwrap();
        let archive = writer.finish().unwrap();

        assert_eq!(&archive[..6], b"070701");
        assert!(archive[6..HEADER_SIZE].iter().all(u8::is_ascii_hexdigit));
        assert_eq!(field(&archive, 0, 1), 0o100755);
        assert_eq!(field(&archive, 0, 6), 5, "file size");
        assert_eq!(field(&archive, 0, 11), 6, "name size counts the NUL");
        // 110 + 6 = 116 is a multiple of 4: no padding after the name.
        assert_eq!(&archive[110..116], b"bin/x\0");
        assert_eq!(&archive[116..124], b"hello\0\0\0");
        // The trailer follows, and the archive ends on a 4-byte boundary.
        assert_eq!(&archive[124..130], b"070701");
        let trailer_name = 124 + HEADER_SIZE;
        assert_eq!(&archive[trailer_name..trailer_name + 11], b"TRAILER!!!\0");
        // 124 + 110 + 11 = 245, padded to 248.
        assert_eq!(archive.len(), 248);
    }

    #[test]
    fn name_padding() {
        let mut writer = Writer::new(Vec::new());
        writer.directory("dev", 0o755).unwrap();
        let archive = writer.finish().unwrap();
        // 110 + "dev\0" = 114, padded to 116.
        assert_eq!(&archive[110..116], b"dev\0\0\0");
        assert_eq!(&archive[116..122], b"070701");
        assert_eq!(field(&archive, 0, 1), 0o040755);
        assert_eq!(field(&archive, 0, 4), 2, "a directory has two links");
    }

    #[test]
    fn symlink_and_device() {
        let mut writer = Writer::new(Vec::new());
        writer.symlink("bin/sh", "busybox").unwrap();
        writer.char_device("dev/console", 0o600, 5, 1).unwrap();
        let archive = writer.finish().unwrap();

        assert_eq!(field(&archive, 0, 1), 0o120777);
        assert_eq!(field(&archive, 0, 6), 7);
        // 110 + "bin/sh\0" = 117 -> 120; the target "busybox" (7) -> 8.
        assert_eq!(&archive[117..120], b"\0\0\0");
        assert_eq!(&archive[120..128], b"busybox\0");

        let device = 128;
        assert_eq!(field(&archive, device, 0), 2, "inodes are distinct");
        assert_eq!(field(&archive, device, 1), 0o020600);
        assert_eq!(field(&archive, device, 9), 5, "rdev major");
        assert_eq!(field(&archive, device, 10), 1, "rdev minor");
        assert_eq!(field(&archive, device, 6), 0);
    }
}
