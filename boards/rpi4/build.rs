//! Links the Pi 4 image where config.txt's `kernel_address=0x200000` makes the firmware put
//! kernel8.img: RAM starts at 0 and the image header's text_offset is 2 MiB, as booting.rst asks
//! (a 2 MiB-aligned base plus text_offset). The firmware's own default for a 64-bit kernel is
//! 0x80000 and it does not read text_offset, so `cargo xtask image --board rpi4` writes the
//! address into config.txt rather than relying on either.
use hyp_arm_board_config::build_script::{board_build_script, BoardLink};

fn main() {
    board_build_script(BoardLink {
        name: "rpi4",
        ram_base: 0,
        text_offset: 0x20_0000,
    });
}
