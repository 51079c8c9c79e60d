//! The walker on small trees built here token by token.

use super::*;

/// Builds a flattened device tree: the structure block token by token, strings deduplicated.
#[derive(Default)]
struct Builder {
    structure: Vec<u8>,
    strings: Vec<u8>,
}

impl Builder {
    fn word(&mut self, word: u32) -> &mut Self {
        self.structure.extend_from_slice(&word.to_be_bytes());
        self
    }

    fn begin(&mut self, name: &str) -> &mut Self {
        self.word(BEGIN_NODE);
        self.structure.extend_from_slice(name.as_bytes());
        self.structure.push(0);
        while !self.structure.len().is_multiple_of(4) {
            self.structure.push(0);
        }
        self
    }

    fn end(&mut self) -> &mut Self {
        self.word(END_NODE)
    }

    fn property(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.word(PROPERTY).word(value.len() as u32).word(offset);
        self.structure.extend_from_slice(value);
        while !self.structure.len().is_multiple_of(4) {
            self.structure.push(0);
        }
        self
    }

    fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let value: Vec<u8> = cells.iter().flat_map(|cell| cell.to_be_bytes()).collect();
        self.property(name, &value)
    }

    fn finish(&mut self) -> Vec<u8> {
        self.word(END);
        let structure_offset = 40u32;
        let strings_offset = structure_offset + self.structure.len() as u32;
        let total = strings_offset + self.strings.len() as u32;
        let mut tree = Vec::new();
        for word in [
            MAGIC,
            total,
            structure_offset,
            strings_offset,
            0,
            17,
            16,
            0,
            0,
            0,
        ] {
            tree.extend_from_slice(&word.to_be_bytes());
        }
        tree.extend_from_slice(&self.structure);
        tree.extend_from_slice(&self.strings);
        tree
    }
}

fn sample() -> Vec<u8> {
    Builder::default()
        .begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .begin("chosen")
        .property("stdout-path", b"/pl011@9000000\0")
        .end()
        .begin("cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0])
        .begin("cpu@0")
        .property("device_type", b"cpu\0")
        .cells("reg", &[0])
        .end()
        .end()
        .word(NOP)
        .begin("pl011@9000000")
        .property("compatible", b"arm,pl011\0arm,primecell\0")
        .cells("reg", &[0, 0x0900_0000, 0, 0x1000])
        .end()
        .end()
        .finish()
}

#[test]
fn visits_every_node_with_its_parents_cells() {
    let tree = sample();
    let tree = DeviceTree::new(&tree).unwrap();
    let mut seen = Vec::new();
    tree.for_each_node(|node| {
        seen.push((
            String::from_utf8_lossy(node.name).into_owned(),
            node.depth,
            node.reg(0),
        ));
    })
    .unwrap();
    assert_eq!(
        seen,
        [
            (String::new(), 1, None),
            ("chosen".into(), 2, None),
            ("cpus".into(), 2, None),
            // The CPU's reg uses /cpus' one address cell and no size cells.
            ("cpu@0".into(), 3, Some((0, 0))),
            ("pl011@9000000".into(), 2, Some((0x0900_0000, 0x1000))),
        ]
    );
}

#[test]
fn properties_paths_and_compatibles() {
    let tree = sample();
    let tree = DeviceTree::new(&tree).unwrap();
    let mut uart = None;
    let mut stdout = None;
    tree.for_each_node(|node| {
        if node.path_is(b"/chosen") {
            stdout = node.property(b"stdout-path").map(<[u8]>::to_vec);
        }
        if node.path_is(b"/pl011@9000000") && node.is_compatible(b"arm,primecell") {
            uart = node.reg(0);
        }
        assert!(!node.path_is(b"/cpus/cpu@1"));
        if node.name == b"cpu@0" {
            assert!(node.path_is(b"/cpus/cpu@0"));
            assert!(node.has_string(b"device_type", b"cpu"));
            assert!(!node.is_compatible(b"arm,pl011"));
        }
    })
    .unwrap();
    assert_eq!(stdout.as_deref(), Some(&b"/pl011@9000000\0"[..]));
    assert_eq!(uart, Some((0x0900_0000, 0x1000)));
}

#[test]
fn rejects_what_is_not_a_device_tree() {
    assert_eq!(DeviceTree::new(&[0; 64]).err(), Some(NOT_A_DEVICE_TREE));
    let mut tree = sample();
    // Cut inside the structure block: the header's size no longer fits.
    tree.truncate(60);
    assert_eq!(DeviceTree::new(&tree).err(), Some(TRUNCATED));
    // A token that does not exist.
    let mut tree = sample();
    tree[40..44].copy_from_slice(&7u32.to_be_bytes());
    let tree = DeviceTree::new(&tree).unwrap();
    assert_eq!(tree.for_each_node(|_| {}).err(), Some(TRUNCATED));
}
