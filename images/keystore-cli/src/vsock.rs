//! A connected AF_VSOCK stream socket, with the few libc calls std does not wrap.

use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

/// Connects to `port` at context ID `cid` and returns the socket as a file to read and write;
/// reads and writes give up after `timeout`, so a keystore that never answers ends in an error.
pub fn connect(cid: u32, port: u32, timeout: Duration) -> io::Result<File> {
    // SAFETY: socket() takes no pointers; a negative result is checked below.
    let descriptor =
        unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if descriptor < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `descriptor` is a socket just opened that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(descriptor) };
    let file = File::from(socket);
    set_timeout(&file, libc::SO_RCVTIMEO, timeout)?;
    set_timeout(&file, libc::SO_SNDTIMEO, timeout)?;

    let address = libc::sockaddr_vm {
        svm_family: libc::AF_VSOCK as libc::sa_family_t,
        svm_reserved1: 0,
        svm_port: port,
        svm_cid: cid,
        svm_zero: [0; 4],
    };
    // SAFETY: `address` is a complete sockaddr_vm that lives across the call, and the length
    // passed is its size; the descriptor is open (owned by `file`).
    let result = unsafe {
        libc::connect(
            descriptor,
            (&address as *const libc::sockaddr_vm).cast::<libc::sockaddr>(),
            size_of::<libc::sockaddr_vm>() as libc::socklen_t,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

/// Sets SO_RCVTIMEO or SO_SNDTIMEO.
fn set_timeout(socket: &File, option: libc::c_int, timeout: Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // The field types (time_t, suseconds_t) are inferred: libc deprecates naming them on musl.
    let value = libc::timeval {
        tv_sec: timeout.as_secs().try_into().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "timeout too long for timeval")
        })?,
        tv_usec: timeout.subsec_micros().into(),
    };
    // SAFETY: `value` is a timeval that lives across the call and the length is its size; the
    // descriptor is open for the whole call.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::timeval).cast::<libc::c_void>(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
