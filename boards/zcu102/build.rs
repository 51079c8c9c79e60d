//! Links the ZCU102 image where every loader puts it: the ZynqMP's DDR starts at 0 and the image
//! header asks for text_offset 0x20_0000 (U-Boot's `booti` moves an arm64 Image to the 2 MiB-
//! aligned RAM base + text_offset; QEMU's `-kernel` loads the ELF at its link address). The rest
//! is every board's: `hyp_arm_board_config::build_script`.
use hyp_arm_board_config::build_script::{board_build_script, BoardLink};

fn main() {
    board_build_script(BoardLink {
        name: "zcu102",
        ram_base: 0,
        text_offset: 0x20_0000,
    });
}
