#!/bin/sh
# Makes the device tree hyp-arm's QEMU tests boot the ZCU102 with, from Debian's
# zynqmp-zcu102-rev1.0.dtb: the board's tree, with only what stands in for the PMU firmware that
# QEMU's xlnx-zcu102 lacks.
#
# On the real board the UARTs' clocks, power domains and pin muxing are served by the PMU firmware
# through SMC calls (the EEMI interface, /firmware/zynqmp-firmware). QEMU has no PMU firmware and
# marks that node disabled, so Linux's Cadence UART driver waits for ever for its clock and power
# domain and ttyPS0 never appears. For both UARTs (serial0 and serial1) this script:
#   - adds /uart-reference-clock, a fixed 100 MHz clock (the board's UART reference clock; QEMU's
#     UART model ignores the rate), and points `clocks` (uart_clk and pclk) at it;
#   - deletes `power-domains`, `pinctrl-0` and `pinctrl-names` (the firmware's domains and pins).
# Nothing else changes. Needs dtc's fdtput/fdtget (Debian: device-tree-compiler).
#
# Usage: qemu-dtb.sh INPUT.dtb OUTPUT.dtb
# The checked-in zynqmp-zcu102-rev1.0-qemu.dtb is
#   qemu-dtb.sh ../../../hyp-arm/testdata/dtb/real-boards/zynqmp-zcu102-rev1.0.dtb \
#       zynqmp-zcu102-rev1.0-qemu.dtb
set -eu

input=$1
output=$2
# A phandle no node of the input uses (Debian's tree numbers them 1..0x33).
clock_phandle=0x1000

if fdtget "$input" /uart-reference-clock compatible >/dev/null 2>&1; then
    echo "$input already has /uart-reference-clock: give the board's original tree" >&2
    exit 1
fi

cp "$input" "$output"
fdtput -c "$output" /uart-reference-clock
fdtput -t s "$output" /uart-reference-clock compatible fixed-clock
fdtput -t u "$output" /uart-reference-clock '#clock-cells' 0
fdtput -t u "$output" /uart-reference-clock clock-frequency 100000000
fdtput -t x "$output" /uart-reference-clock phandle "$clock_phandle"
for uart in /axi/serial@ff000000 /axi/serial@ff010000; do
    fdtput -t x "$output" "$uart" clocks "$clock_phandle" "$clock_phandle"
    fdtput -d "$output" "$uart" power-domains pinctrl-0 pinctrl-names
done
