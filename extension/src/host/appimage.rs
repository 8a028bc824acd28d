//! What an AppImage says it is: the desktop entry at the root of its
//! embedded SquashFS image (`rustdesk.desktop`, `Name=RustDesk`), which the
//! AppImage specification requires. The payload is compressed, so the
//! markers a tool's binary carries are not visible in the file; a renamed
//! AppImage still names itself here.
//!
//! A minimal SquashFS 4 reader, written for this one question: it reads the
//! superblock, the root directory's listing, at most one symbolic link per
//! path component and one small file, every read bounded. A general SquashFS
//! crate reads every inode and directory block of the image into memory on
//! open, and an adversary controls the image. gzip and zstd, the
//! compressors AppImage tools use, are supported; others are reported as
//! unsupported. Layouts follow the kernel's `fs/squashfs/squashfs_fs.h`.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;

const SQUASHFS_MAGIC: &[u8; 4] = b"hsqs";
const METADATA_SIZE: usize = 8192;
const NO_FRAGMENT: u32 = 0xffff_ffff;
const UNCOMPRESSED_BLOCK: u32 = 1 << 24;
const UNCOMPRESSED_METADATA: u16 = 0x8000;
/// Bounds: metadata blocks read for one item, bytes of a directory listing,
/// of the desktop file, symbolic links followed, path depth.
const MAX_METADATA_BLOCKS: usize = 16;
const MAX_LISTING: usize = 256 * 1024;
const MAX_DESKTOP_FILE: u64 = 256 * 1024;
const MAX_LINKS: usize = 4;
const MAX_DEPTH: usize = 8;
const MAX_BLOCK_SIZE: u32 = 1 << 20;

/// The identity an AppImage's desktop entry gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesktopEntry {
    /// File name of the desktop entry (`rustdesk.desktop`).
    pub file: String,
    /// `Name=` of the `[Desktop Entry]` group.
    pub name: Option<String>,
    /// Basename of the first word of `Exec=`.
    pub exec: Option<String>,
}

type Result<T> = std::result::Result<T, String>;

/// Whether a file starting with `head` is an AppImage of type 2 (an ELF
/// runtime marked `AI\x02` at byte 8, followed by a SquashFS image). Pure.
pub fn is_appimage(head: &[u8]) -> bool {
    head.get(..4) == Some(b"\x7fELF") && head.get(8..11) == Some(b"AI\x02")
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Where the SquashFS image starts: the end of the runtime's ELF file (its
/// section header table comes last). Pure.
pub fn payload_offset(elf_header: &[u8]) -> Option<u64> {
    match elf_header.get(4)? {
        2 => {
            let shoff = le64(elf_header, 40)?;
            let size = u64::from(le16(elf_header, 58)?) * u64::from(le16(elf_header, 60)?);
            shoff.checked_add(size)
        }
        1 => {
            let shoff = u64::from(le32(elf_header, 32)?);
            let size = u64::from(le16(elf_header, 46)?) * u64::from(le16(elf_header, 48)?);
            shoff.checked_add(size)
        }
        _ => None,
    }
}

/// `[Desktop Entry]` `Name=` and the program of `Exec=`. Pure.
pub fn parse_desktop(text: &str) -> (Option<String>, Option<String>) {
    let fields = crate::host::services::desktop_fields(text);
    (fields.name, fields.program)
}

#[derive(Clone, Copy, Debug)]
enum Compression {
    Gzip,
    Zstd,
}

struct Image<'a> {
    file: &'a File,
    base: u64,
    block_size: u32,
    compression: Compression,
    inode_table: u64,
    directory_table: u64,
    fragment_table: u64,
}

fn read_exact_at(file: &File, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)
        .map_err(|e| format!("read of {len} bytes at {offset}: {e}"))?;
    Ok(buf)
}

impl Image<'_> {
    fn decompress(&self, data: &[u8], limit: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let taken = match self.compression {
            Compression::Gzip => flate2::read::ZlibDecoder::new(data)
                .take(limit as u64 + 1)
                .read_to_end(&mut out),
            Compression::Zstd => {
                let mut source = data;
                let decoder = ruzstd::decoding::StreamingDecoder::new(&mut source)
                    .map_err(|e| format!("zstd: {e}"))?;
                decoder.take(limit as u64 + 1).read_to_end(&mut out)
            }
        };
        taken.map_err(|e| format!("decompression: {e}"))?;
        if out.len() > limit {
            return Err(format!("a block decompresses past {limit} bytes"));
        }
        Ok(out)
    }

    /// `len` bytes of a metadata table, from the block at `table + block`
    /// and `offset` into its uncompressed bytes, following blocks.
    fn metadata(&self, table: u64, block: u64, offset: usize, len: usize) -> Result<Vec<u8>> {
        let mut at = self
            .base
            .checked_add(table)
            .and_then(|v| v.checked_add(block))
            .ok_or("metadata offset overflows")?;
        let mut bytes = Vec::new();
        for _ in 0..MAX_METADATA_BLOCKS {
            if bytes.len() >= offset + len {
                break;
            }
            let header = read_exact_at(self.file, at, 2)?;
            let header = le16(&header, 0).ok_or("metadata header")?;
            let size = usize::from(header & !UNCOMPRESSED_METADATA);
            if size == 0 || size > METADATA_SIZE {
                return Err(format!("metadata block of {size} bytes"));
            }
            let raw = read_exact_at(self.file, at + 2, size)?;
            if header & UNCOMPRESSED_METADATA != 0 {
                bytes.extend_from_slice(&raw);
            } else {
                bytes.extend(self.decompress(&raw, METADATA_SIZE)?);
            }
            at += 2 + size as u64;
        }
        bytes
            .get(offset..offset + len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| "metadata ends early".to_string())
    }

    /// The bytes of an inode (enough for any kind read here).
    fn inode(&self, reference: u64) -> Result<Vec<u8>> {
        let block = reference >> 16;
        let offset = (reference & 0xffff) as usize;
        // An inode is at most 56 bytes before its block list; take what the
        // metadata holds (an inode at the end of the table is short).
        let mut len = 64 + 4 * 64;
        loop {
            match self.metadata(self.inode_table, block, offset, len) {
                Ok(bytes) => return Ok(bytes),
                Err(_) if len > 24 => len /= 2,
                Err(e) => return Err(e),
            }
        }
    }

    /// Entries `(name, inode reference)` of the directory whose inode is
    /// `inode`.
    fn listing(&self, inode: &[u8]) -> Result<Vec<(String, u64)>> {
        let kind = le16(inode, 0).ok_or("inode")?;
        let (block, size, offset) = match kind {
            1 => (
                le32(inode, 16).ok_or("dir")?,
                u32::from(le16(inode, 24).ok_or("dir")?),
                le16(inode, 26).ok_or("dir")?,
            ),
            8 => (
                le32(inode, 24).ok_or("dir")?,
                le32(inode, 20).ok_or("dir")?,
                le16(inode, 34).ok_or("dir")?,
            ),
            other => return Err(format!("inode type {other} is not a directory")),
        };
        // The size counts 3 bytes for `.` and `..`, which are not stored.
        let size = (size as usize).saturating_sub(3);
        if size > MAX_LISTING {
            return Err(format!("a directory listing of {size} bytes"));
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let bytes = self.metadata(
            self.directory_table,
            u64::from(block),
            usize::from(offset),
            size,
        )?;
        let mut entries = Vec::new();
        let mut at = 0;
        while at + 12 <= bytes.len() {
            let count = le32(&bytes, at).ok_or("listing")? as usize + 1;
            let start = u64::from(le32(&bytes, at + 4).ok_or("listing")?);
            at += 12;
            for _ in 0..count.min(256) {
                let offset = u64::from(le16(&bytes, at).ok_or("entry")?);
                let name_len = usize::from(le16(&bytes, at + 6).ok_or("entry")?) + 1;
                let name = bytes.get(at + 8..at + 8 + name_len).ok_or("entry name")?;
                entries.push((
                    String::from_utf8_lossy(name).into_owned(),
                    start << 16 | offset,
                ));
                at += 8 + name_len;
            }
        }
        Ok(entries)
    }

    /// Follows a path from the root directory, symbolic links included.
    fn lookup(&self, root: u64, path: &str, links: &mut usize) -> Result<Vec<u8>> {
        let mut stack: Vec<u64> = vec![root];
        let components: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if components.len() > MAX_DEPTH {
            return Err("path too deep".into());
        }
        let mut inode = self.inode(root)?;
        for (i, component) in components.iter().enumerate() {
            if *component == ".." {
                stack.pop();
                let parent = *stack.last().unwrap_or(&root);
                inode = self.inode(parent)?;
                continue;
            }
            let dir = inode;
            let reference = self
                .listing(&dir)?
                .into_iter()
                .find(|(name, _)| name == component)
                .map(|(_, r)| r)
                .ok_or_else(|| format!("{component} not found"))?;
            inode = self.inode(reference)?;
            let kind = le16(&inode, 0).ok_or("inode")?;
            if matches!(kind, 3 | 10) {
                *links += 1;
                if *links > MAX_LINKS {
                    return Err("too many symbolic links".into());
                }
                let size = le32(&inode, 20).ok_or("symlink")? as usize;
                let target = inode.get(24..24 + size).ok_or("symlink target")?;
                let target = String::from_utf8_lossy(target).into_owned();
                let rest = components.get(i + 1..).unwrap_or_default().join("/");
                // Relative to the link's directory; absolute from the root.
                let base = if target.starts_with('/') {
                    String::new()
                } else {
                    components.get(..i).unwrap_or_default().join("/")
                };
                let path = format!("{base}/{target}/{rest}");
                return self.lookup(root, &path, links);
            }
            stack.push(reference);
        }
        Ok(inode)
    }

    /// The bytes of a regular file's inode, at most [`MAX_DESKTOP_FILE`].
    fn file_contents(&self, inode: &[u8]) -> Result<Vec<u8>> {
        let kind = le16(inode, 0).ok_or("inode")?;
        let (start, size, fragment, frag_offset, sizes_at) = match kind {
            2 => (
                u64::from(le32(inode, 16).ok_or("file")?),
                u64::from(le32(inode, 28).ok_or("file")?),
                le32(inode, 20).ok_or("file")?,
                le32(inode, 24).ok_or("file")?,
                32,
            ),
            9 => (
                le64(inode, 16).ok_or("file")?,
                le64(inode, 24).ok_or("file")?,
                le32(inode, 44).ok_or("file")?,
                le32(inode, 48).ok_or("file")?,
                56,
            ),
            other => return Err(format!("inode type {other} is not a regular file")),
        };
        if size > MAX_DESKTOP_FILE {
            return Err(format!("a desktop file of {size} bytes"));
        }
        let block_size = u64::from(self.block_size);
        let full_blocks = if fragment == NO_FRAGMENT {
            size.div_ceil(block_size)
        } else {
            size / block_size
        };
        let mut out = Vec::new();
        let mut at = self.base.checked_add(start).ok_or("file offset")?;
        for i in 0..full_blocks as usize {
            let word = le32(inode, sizes_at + 4 * i).ok_or("block list")?;
            let stored = (word & !UNCOMPRESSED_BLOCK) as usize;
            if stored > self.block_size as usize + 1024 {
                return Err(format!("a data block of {stored} bytes"));
            }
            let raw = read_exact_at(self.file, at, stored)?;
            if word & UNCOMPRESSED_BLOCK != 0 {
                out.extend_from_slice(&raw);
            } else {
                out.extend(self.decompress(&raw, self.block_size as usize)?);
            }
            at += stored as u64;
        }
        if fragment != NO_FRAGMENT {
            let index = u64::from(fragment);
            let pointer = read_exact_at(
                self.file,
                self.base + self.fragment_table + 8 * (index / 512),
                8,
            )?;
            let block = le64(&pointer, 0).ok_or("fragment table")?;
            let entry = self.metadata(0, block, ((index % 512) * 16) as usize, 16)?;
            let frag_start = le64(&entry, 0).ok_or("fragment entry")?;
            let word = le32(&entry, 8).ok_or("fragment entry")?;
            let stored = (word & !UNCOMPRESSED_BLOCK) as usize;
            if stored > self.block_size as usize + 1024 {
                return Err(format!("a fragment of {stored} bytes"));
            }
            let raw = read_exact_at(self.file, self.base + frag_start, stored)?;
            let block = if word & UNCOMPRESSED_BLOCK != 0 {
                raw
            } else {
                self.decompress(&raw, self.block_size as usize)?
            };
            let tail = (size - out.len() as u64) as usize;
            let from = frag_offset as usize;
            out.extend_from_slice(block.get(from..from + tail).ok_or("fragment ends early")?);
        }
        out.truncate(size as usize);
        Ok(out)
    }
}

/// The desktop entry embedded in the AppImage `file`: `Ok(None)` when the
/// file is not an AppImage of type 2 or has no desktop entry at its root;
/// an error for an image that cannot be read (unsupported compression,
/// damaged or hostile structures).
pub fn desktop_entry(file: &File) -> Result<Option<DesktopEntry>> {
    let mut head = [0u8; 64];
    let n = file.read_at(&mut head, 0).map_err(|e| e.to_string())?;
    let head = head.get(..n).unwrap_or_default();
    if !is_appimage(head) {
        return Ok(None);
    }
    let base = payload_offset(head).ok_or("ELF header")?;
    let superblock = read_exact_at(file, base, 96)?;
    if superblock.get(..4) != Some(SQUASHFS_MAGIC) {
        return Err("no SquashFS image after the runtime".into());
    }
    let block_size = le32(&superblock, 12).ok_or("superblock")?;
    if !(4096..=MAX_BLOCK_SIZE).contains(&block_size) {
        return Err(format!("a block size of {block_size}"));
    }
    let compression = match le16(&superblock, 20).ok_or("superblock")? {
        1 => Compression::Gzip,
        6 => Compression::Zstd,
        other => return Err(format!("SquashFS compression {other} is not supported")),
    };
    if le16(&superblock, 28) != Some(4) {
        return Err("not SquashFS version 4".into());
    }
    let image = Image {
        file,
        base,
        block_size,
        compression,
        inode_table: le64(&superblock, 64).ok_or("superblock")?,
        directory_table: le64(&superblock, 72).ok_or("superblock")?,
        fragment_table: le64(&superblock, 80).ok_or("superblock")?,
    };
    let root = le64(&superblock, 32).ok_or("superblock")?;
    let mut names: Vec<String> = image
        .listing(&image.inode(root)?)?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.ends_with(".desktop"))
        .collect();
    names.sort();
    let Some(name) = names.into_iter().next() else {
        return Ok(None);
    };
    let inode = image.lookup(root, &name, &mut 0)?;
    let bytes = image.file_contents(&inode)?;
    let (entry_name, exec) = parse_desktop(&String::from_utf8_lossy(&bytes));
    Ok(Some(DesktopEntry {
        file: name,
        name: entry_name,
        exec,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desktop_entries_name_and_program() {
        let (name, exec) = parse_desktop(
            "[Desktop Entry]\nName=RustDesk\nName[de]=X\nExec=env A=1 /usr/bin/rustdesk %u\n[Desktop Action x]\nName=Other\n",
        );
        assert_eq!(name.as_deref(), Some("RustDesk"));
        assert_eq!(exec.as_deref(), Some("rustdesk"));
        assert_eq!(parse_desktop("Name=outside\n"), (None, None));
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/host/testdata/appimage")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn entry_of(bytes: &[u8]) -> Result<Option<DesktopEntry>> {
        use std::io::Write;
        let mut file = tempfile::tempfile().map_err(|e| e.to_string())?;
        file.write_all(bytes).map_err(|e| e.to_string())?;
        desktop_entry(&file)
    }

    #[test]
    fn reads_the_desktop_entry_of_images_made_by_mksquashfs() {
        let rustdesk = DesktopEntry {
            file: "rustdesk.desktop".into(),
            name: Some("RustDesk".into()),
            exec: Some("rustdesk".into()),
        };
        assert_eq!(
            entry_of(&fixture("gzip-file.AppImage")),
            Ok(Some(rustdesk.clone()))
        );
        assert_eq!(entry_of(&fixture("zstd-link.AppImage")), Ok(Some(rustdesk)));
        assert_eq!(
            entry_of(&fixture("gzip-300-files-no-fragments.AppImage")),
            Ok(Some(DesktopEntry {
                file: "anydesk.desktop".into(),
                name: Some("AnyDesk".into()),
                exec: Some("anydesk".into()),
            }))
        );
    }

    #[test]
    fn damaged_images_are_errors_not_panics() {
        for name in [
            "gzip-file.AppImage",
            "zstd-link.AppImage",
            "gzip-300-files-no-fragments.AppImage",
        ] {
            let good = fixture(name);
            for cut in (0..good.len()).step_by(7) {
                let _ = entry_of(&good[..cut]);
            }
            // Every third byte of the SquashFS part set to 0xff in turn.
            for at in (4096..good.len()).step_by(3) {
                let mut bad = good.clone();
                bad[at] = 0xff;
                let _ = entry_of(&bad);
            }
        }
        assert_eq!(entry_of(b"\x7fELF\x02\x01\x01"), Ok(None));
    }

    #[test]
    fn only_type_2_appimages() {
        assert!(is_appimage(b"\x7fELF\x02\x01\x01\x00AI\x02\x00"));
        assert!(!is_appimage(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00"));
        assert!(!is_appimage(b"AI\x02"));
    }
}
