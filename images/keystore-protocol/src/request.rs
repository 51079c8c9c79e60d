//! Keystore requests: the operations, their payloads, and both directions of the encoding.

use crate::response::Status;
use crate::{encode_frame, EncodeError, MAX_KEY_NAME, MAX_RANDOM_BYTES, MAX_REQUEST_PAYLOAD};

/// A request frame's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Operation {
    /// Empty payload; answers the 32-byte Ed25519 public key.
    PublicKey = 1,
    /// Payload = the message; answers its 64-byte Ed25519 signature.
    Sign = 2,
    /// Payload = name length (1 byte), name, message; answers HMAC-SHA256(key named, message).
    Hmac = 3,
    /// Payload = count (2 bytes, little-endian); answers that many random bytes.
    Random = 4,
    /// Empty payload; advances the monotonic counter and answers its new value (8 bytes, LE).
    Counter = 5,
}

impl Operation {
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::PublicKey,
            2 => Self::Sign,
            3 => Self::Hmac,
            4 => Self::Random,
            5 => Self::Counter,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A well-formed request, borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    PublicKey,
    Sign {
        message: &'a [u8],
    },
    Hmac {
        key_name: &'a [u8],
        message: &'a [u8],
    },
    Random {
        count: u16,
    },
    Counter,
}

impl<'a> Request<'a> {
    /// Checks a request frame's code and payload; the error is the status to answer with.
    pub fn parse(code: u8, payload: &'a [u8]) -> Result<Self, Status> {
        if payload.len() > MAX_REQUEST_PAYLOAD {
            return Err(Status::TooLarge);
        }
        let operation = Operation::from_code(code).ok_or(Status::UnknownOperation)?;
        match operation {
            Operation::PublicKey | Operation::Counter if !payload.is_empty() => {
                Err(Status::BadLength)
            }
            Operation::PublicKey => Ok(Self::PublicKey),
            Operation::Counter => Ok(Self::Counter),
            Operation::Sign => Ok(Self::Sign { message: payload }),
            Operation::Hmac => {
                let (&name_length, rest) = payload.split_first().ok_or(Status::BadLength)?;
                let key_name = rest
                    .get(..usize::from(name_length))
                    .ok_or(Status::BadLength)?;
                if !is_valid_key_name(key_name) {
                    return Err(Status::BadKeyName);
                }
                Ok(Self::Hmac {
                    key_name,
                    message: &rest[key_name.len()..],
                })
            }
            Operation::Random => {
                let count = match payload {
                    [low, high] => u16::from_le_bytes([*low, *high]),
                    _ => return Err(Status::BadLength),
                };
                if count == 0 || usize::from(count) > MAX_RANDOM_BYTES {
                    return Err(Status::BadArgument);
                }
                Ok(Self::Random { count })
            }
        }
    }

    pub fn operation(&self) -> Operation {
        match self {
            Self::PublicKey => Operation::PublicKey,
            Self::Sign { .. } => Operation::Sign,
            Self::Hmac { .. } => Operation::Hmac,
            Self::Random { .. } => Operation::Random,
            Self::Counter => Operation::Counter,
        }
    }

    /// Writes the request frame into `output` and returns its size. Refuses what the service
    /// would refuse (oversized payloads, bad key names, random counts out of range).
    pub fn encode(&self, output: &mut [u8]) -> Result<usize, EncodeError> {
        let code = self.operation().code();
        let count_bytes;
        let name_length;
        let parts: &[&[u8]] = match self {
            Self::PublicKey | Self::Counter => &[],
            Self::Sign { message } => &[message],
            Self::Hmac { key_name, message } => {
                if !is_valid_key_name(key_name) {
                    return Err(EncodeError::InvalidField(
                        "key name (1 to 32 printable ASCII characters)",
                    ));
                }
                // Fits: a valid name has at most MAX_KEY_NAME (32) bytes.
                name_length = [key_name.len() as u8];
                &[&name_length, key_name, message]
            }
            Self::Random { count } => {
                if *count == 0 || usize::from(*count) > MAX_RANDOM_BYTES {
                    return Err(EncodeError::InvalidField("random byte count (1 to 256)"));
                }
                count_bytes = count.to_le_bytes();
                &[&count_bytes]
            }
        };
        let length: usize = parts.iter().map(|part| part.len()).sum();
        if length > MAX_REQUEST_PAYLOAD {
            return Err(EncodeError::PayloadTooLong {
                length,
                limit: MAX_REQUEST_PAYLOAD,
            });
        }
        encode_frame(code, parts, output)
    }
}

/// Key names are 1 to [`MAX_KEY_NAME`] printable ASCII characters (no spaces), so they print
/// unambiguously in logs and documentation.
pub fn is_valid_key_name(name: &[u8]) -> bool {
    (1..=MAX_KEY_NAME).contains(&name.len()) && name.iter().all(u8::is_ascii_graphic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{split_frame, MAX_REQUEST_FRAME};

    fn round_trip(request: Request<'_>) {
        let mut buffer = [0u8; MAX_REQUEST_FRAME];
        let size = request.encode(&mut buffer).unwrap();
        let frame = split_frame(&buffer[..size]).unwrap();
        assert_eq!(frame.size, size);
        assert_eq!(Request::parse(frame.code, frame.payload), Ok(request));
    }

    #[test]
    fn every_request_survives_encoding() {
        round_trip(Request::PublicKey);
        round_trip(Request::Sign { message: b"" });
        round_trip(Request::Sign {
            message: &[0x5a; MAX_REQUEST_PAYLOAD],
        });
        round_trip(Request::Hmac {
            key_name: b"android.auth",
            message: b"hello",
        });
        round_trip(Request::Hmac {
            key_name: b"k",
            message: b"",
        });
        round_trip(Request::Random { count: 1 });
        round_trip(Request::Random { count: 256 });
        round_trip(Request::Counter);
    }

    #[test]
    fn hmac_layout_is_name_length_name_message() {
        let mut buffer = [0u8; 32];
        let request = Request::Hmac {
            key_name: b"ab",
            message: b"xyz",
        };
        let size = request.encode(&mut buffer).unwrap();
        assert_eq!(&buffer[..size], &[3, 6, 0, 2, b'a', b'b', b'x', b'y', b'z']);
    }

    #[test]
    fn malformed_requests_name_their_fault() {
        assert_eq!(Request::parse(0, &[]), Err(Status::UnknownOperation));
        assert_eq!(Request::parse(0xff, &[]), Err(Status::UnknownOperation));
        assert_eq!(Request::parse(1, &[0]), Err(Status::BadLength));
        assert_eq!(Request::parse(5, &[0]), Err(Status::BadLength));
        assert_eq!(Request::parse(3, &[]), Err(Status::BadLength));
        assert_eq!(Request::parse(3, &[5, b'a']), Err(Status::BadLength));
        assert_eq!(Request::parse(3, &[0, b'm']), Err(Status::BadKeyName));
        assert_eq!(Request::parse(3, &[1, b' ', b'm']), Err(Status::BadKeyName));
        let mut long_name = [b'n'; 40];
        long_name[0] = 33;
        assert_eq!(Request::parse(3, &long_name), Err(Status::BadKeyName));
        assert_eq!(Request::parse(4, &[1]), Err(Status::BadLength));
        assert_eq!(Request::parse(4, &[0, 0]), Err(Status::BadArgument));
        assert_eq!(Request::parse(4, &[1, 1]), Err(Status::BadArgument));
        assert_eq!(
            Request::parse(2, &[0; MAX_REQUEST_PAYLOAD + 1]),
            Err(Status::TooLarge)
        );
    }

    #[test]
    fn encoding_refuses_what_the_service_would() {
        let mut buffer = [0u8; 2 * MAX_REQUEST_FRAME];
        assert!(Request::Random { count: 0 }.encode(&mut buffer).is_err());
        assert!(Request::Random { count: 257 }.encode(&mut buffer).is_err());
        assert!(Request::Hmac {
            key_name: b"",
            message: b""
        }
        .encode(&mut buffer)
        .is_err());
        assert!(Request::Sign {
            message: &[0; MAX_REQUEST_PAYLOAD + 1]
        }
        .encode(&mut buffer)
        .is_err());
    }
}
