//! Arm PrimeCell PL011 UART.
#![no_std]
