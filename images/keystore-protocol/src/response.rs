//! Keystore responses: the status codes and the response frame.

use crate::{encode_frame, split_frame, EncodeError, MAX_RESPONSE_PAYLOAD};

/// A response frame's code. Only [`Status::Ok`] carries a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Ok = 0,
    /// The request's code names no operation.
    UnknownOperation = 1,
    /// The payload's length does not fit the operation (or an HMAC name runs past it).
    BadLength = 2,
    /// The payload is longer than `MAX_REQUEST_PAYLOAD`; the service skipped it unread.
    TooLarge = 3,
    /// An HMAC key name is empty, longer than 32 bytes or not printable ASCII.
    BadKeyName = 4,
    /// A field is out of range (a random count of 0 or more than 256).
    BadArgument = 5,
    /// The monotonic counter reached its maximum and will not wrap.
    CounterExhausted = 6,
}

impl Status {
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Ok,
            1 => Self::UnknownOperation,
            2 => Self::BadLength,
            3 => Self::TooLarge,
            4 => Self::BadKeyName,
            5 => Self::BadArgument,
            6 => Self::CounterExhausted,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    /// What the status means, for a person reading the client's error.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Ok => "success",
            Self::UnknownOperation => "unknown operation",
            Self::BadLength => "payload length does not fit the operation",
            Self::TooLarge => "request payload larger than 1024 bytes",
            Self::BadKeyName => "key name must be 1 to 32 printable ASCII characters",
            Self::BadArgument => "argument out of range",
            Self::CounterExhausted => "the monotonic counter is exhausted",
        }
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(self.describe())
    }
}

/// A response, borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    pub status: Status,
    pub payload: &'a [u8],
}

/// Why bytes received are not a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// Fewer bytes than the frame says.
    Incomplete,
    /// The code is no [`Status`].
    UnknownStatus(u8),
    /// A payload longer than any response has.
    TooLong(usize),
}

impl core::fmt::Display for ResponseError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Incomplete => formatter.write_str("the response frame is incomplete"),
            Self::UnknownStatus(code) => write!(formatter, "unknown response status {code}"),
            Self::TooLong(length) => write!(
                formatter,
                "a response payload of {length} bytes is longer than any response has"
            ),
        }
    }
}

impl<'a> Response<'a> {
    pub fn ok(payload: &'a [u8]) -> Self {
        Self {
            status: Status::Ok,
            payload,
        }
    }

    pub fn error(status: Status) -> Self {
        Self {
            status,
            payload: &[],
        }
    }

    /// The response frame at the start of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ResponseError> {
        let frame = split_frame(bytes).ok_or(ResponseError::Incomplete)?;
        let status =
            Status::from_code(frame.code).ok_or(ResponseError::UnknownStatus(frame.code))?;
        if frame.payload.len() > MAX_RESPONSE_PAYLOAD {
            return Err(ResponseError::TooLong(frame.payload.len()));
        }
        Ok(Self {
            status,
            payload: frame.payload,
        })
    }

    /// Writes the response frame into `output` and returns its size.
    pub fn encode(&self, output: &mut [u8]) -> Result<usize, EncodeError> {
        if self.payload.len() > MAX_RESPONSE_PAYLOAD {
            return Err(EncodeError::PayloadTooLong {
                length: self.payload.len(),
                limit: MAX_RESPONSE_PAYLOAD,
            });
        }
        encode_frame(self.status.code(), &[self.payload], output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_RESPONSE_FRAME;

    #[test]
    fn status_codes_round_trip() {
        for code in 0..=6 {
            assert_eq!(Status::from_code(code).map(Status::code), Some(code));
        }
        assert_eq!(Status::from_code(7), None);
    }

    #[test]
    fn responses_round_trip_and_reject_garbage() {
        let mut buffer = [0u8; MAX_RESPONSE_FRAME];
        let size = Response::ok(b"key").encode(&mut buffer).unwrap();
        assert_eq!(&buffer[..size], &[0, 3, 0, b'k', b'e', b'y']);
        assert_eq!(Response::parse(&buffer[..size]), Ok(Response::ok(b"key")));
        assert_eq!(
            Response::parse(&buffer[..size - 1]),
            Err(ResponseError::Incomplete)
        );
        assert_eq!(
            Response::parse(&[9, 0, 0]),
            Err(ResponseError::UnknownStatus(9))
        );
        let size = Response::error(Status::BadKeyName)
            .encode(&mut buffer)
            .unwrap();
        assert_eq!(&buffer[..size], &[4, 0, 0]);
        let mut long = [0u8; MAX_RESPONSE_FRAME + 1];
        long[1..3].copy_from_slice(&(MAX_RESPONSE_PAYLOAD as u16 + 1).to_le_bytes());
        assert_eq!(
            Response::parse(&long),
            Err(ResponseError::TooLong(MAX_RESPONSE_PAYLOAD + 1))
        );
        assert!(Response::ok(&[0; MAX_RESPONSE_PAYLOAD + 1])
            .encode(&mut buffer)
            .is_err());
    }
}
