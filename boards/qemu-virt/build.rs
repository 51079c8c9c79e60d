//! Links the qemu-virt image at the address every loader puts it: RAM starts at 0x4000_0000 on
//! QEMU virt and the image header asks for text_offset 0x20_0000 (QEMU's `-kernel` and U-Boot's
//! `booti` both load an arm64 Image at the 2 MiB-aligned RAM base + text_offset). The rest (the
//! embedded guest, domains.toml's check and `SYSTEM_PLAN`) is every board's:
//! `hyp_arm_board_config::build_script`.
use hyp_arm_board_config::build_script::{board_build_script, BoardLink};

fn main() {
    board_build_script(BoardLink {
        name: "qemu-virt",
        ram_base: 0x4000_0000,
        text_offset: 0x20_0000,
    });
}
