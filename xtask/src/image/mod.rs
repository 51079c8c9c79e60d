//! `cargo xtask image --board <board>`: what a board's own boot loader boots, one module per kind
//! of output. The Raspberry Pi 4's is an SD card (`raspberry_pi`).

mod raspberry_pi;

use anyhow::{bail, Result};

use crate::layout::Layout;

/// `cargo xtask image` options.
#[derive(clap::Args)]
pub struct ImageOptions {
    /// The board whose boot media to build (boards/<board>).
    #[arg(long)]
    pub board: String,
}

/// Builds the boot media of `options.board` under target/images/<board>/.
pub fn image(layout: &Layout, options: &ImageOptions) -> Result<()> {
    match options.board.as_str() {
        "rpi4" => raspberry_pi::build(layout).map(drop),
        other => bail!("no boot media recipe for board `{other}` (recipes: rpi4)"),
    }
}
