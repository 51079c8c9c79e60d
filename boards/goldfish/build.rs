//! Links the goldfish image where QEMU virt's loaders put it (RAM at 0x4000_0000, text_offset
//! 0x20_0000: the host is QEMU virt with GICv2; the guest sees the Android emulator's ranchu
//! layout). The rest (the embedded guest, domains.toml's check and `SYSTEM_PLAN`) is every
//! board's: `hyp_arm_board_config::build_script`.
use hyp_arm_board_config::build_script::{board_build_script, BoardLink};

fn main() {
    board_build_script(BoardLink {
        name: "goldfish",
        ram_base: 0x4000_0000,
        text_offset: 0x20_0000,
    });
}
