//! Just enough of RFC 1035 for the DNS examples: queries and A answers.

// Shared by dns_server and dns_client, each of which uses a part.
#![allow(dead_code)]

use std::fmt;
use std::net::Ipv4Addr;

use tendril_net::framer::{ByteOrder, LengthFramer, LengthPrefix};

pub const TYPE_A: u16 = 1;
pub const CLASS_IN: u16 = 1;
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;

/// Compression pointers followed before a name is declared malformed (loops).
const MAX_POINTERS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn parse(msg: &[u8]) -> Option<Header> {
        let word = |i: usize| Some(u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]));
        Some(Header {
            id: word(0)?,
            flags: word(2)?,
            qdcount: word(4)?,
            ancount: word(6)?,
            nscount: word(8)?,
            arcount: word(10)?,
        })
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }

    pub fn rcode(&self) -> u8 {
        (self.flags & 0xF) as u8
    }

    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    fn write(&self, out: &mut Vec<u8>) {
        for word in [
            self.id,
            self.flags,
            self.qdcount,
            self.ancount,
            self.nscount,
            self.arcount,
        ] {
            out.extend_from_slice(&word.to_be_bytes());
        }
    }
}

#[derive(Debug)]
pub struct Malformed;

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed DNS message")
    }
}

impl std::error::Error for Malformed {}

/// Reads the (possibly compressed) name at `offset`: the dotted name in lower case,
/// and the offset just past it.
pub fn read_name(msg: &[u8], mut offset: usize) -> Result<(String, usize), Malformed> {
    let mut name = String::new();
    let mut end = None;
    for _ in 0..MAX_POINTERS {
        loop {
            let len = *msg.get(offset).ok_or(Malformed)? as usize;
            match len {
                0 => {
                    let next = end.unwrap_or(offset + 1);
                    return Ok((name, next));
                }
                l if l & 0xC0 == 0xC0 => {
                    let low = *msg.get(offset + 1).ok_or(Malformed)? as usize;
                    end.get_or_insert(offset + 2);
                    offset = ((l & 0x3F) << 8) | low;
                    break;
                }
                l if l < 64 => {
                    let label = msg.get(offset + 1..offset + 1 + l).ok_or(Malformed)?;
                    if !name.is_empty() {
                        name.push('.');
                    }
                    name.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
                    if name.len() > 255 {
                        return Err(Malformed);
                    }
                    offset += 1 + l;
                }
                _ => return Err(Malformed),
            }
        }
    }
    Err(Malformed)
}

fn write_name(name: &str, out: &mut Vec<u8>) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// The question of a query (exactly one), after its header.
pub fn read_question(msg: &[u8]) -> Result<(Question, usize), Malformed> {
    let (name, offset) = read_name(msg, 12)?;
    let field = |i: usize| Some(u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]));
    let qtype = field(offset).ok_or(Malformed)?;
    let qclass = field(offset + 2).ok_or(Malformed)?;
    Ok((
        Question {
            name,
            qtype,
            qclass,
        },
        offset + 4,
    ))
}

/// A response to `query` with `rcode`, echoing `question`, answering with `answer`.
pub fn response(
    query: &Header,
    question: Option<&Question>,
    rcode: u8,
    answer: Option<Ipv4Addr>,
) -> Vec<u8> {
    // QR, the query's opcode and RD, AA; no recursion available.
    let flags =
        0x8000 | (query.flags & 0x7800) | 0x0400 | (query.flags & 0x0100) | u16::from(rcode);
    let header = Header {
        id: query.id,
        flags,
        qdcount: u16::from(question.is_some()),
        ancount: u16::from(answer.is_some()),
        nscount: 0,
        arcount: 0,
    };
    let mut out = Vec::with_capacity(64);
    header.write(&mut out);
    if let Some(question) = question {
        write_name(&question.name, &mut out);
        out.extend_from_slice(&question.qtype.to_be_bytes());
        out.extend_from_slice(&question.qclass.to_be_bytes());
    }
    if let Some(addr) = answer {
        out.extend_from_slice(&[0xC0, 12]); // the question's name
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&addr.octets());
    }
    out
}

/// A recursion-desired query for `name`, type `qtype`.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let header = Header {
        id,
        flags: 0x0100,
        qdcount: 1,
        ancount: 0,
        nscount: 0,
        arcount: 0,
    };
    let mut out = Vec::with_capacity(32);
    header.write(&mut out);
    write_name(name, &mut out);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// The A records of a response.
pub fn answers(msg: &[u8]) -> Result<(Header, Vec<Ipv4Addr>), Malformed> {
    let header = Header::parse(msg).ok_or(Malformed)?;
    let mut offset = 12;
    for _ in 0..header.qdcount {
        offset = read_name(msg, offset)?.1 + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..header.ancount {
        offset = read_name(msg, offset)?.1;
        let fixed = msg.get(offset..offset + 10).ok_or(Malformed)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlength = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let rdata = msg
            .get(offset + 10..offset + 10 + rdlength)
            .ok_or(Malformed)?;
        if rtype == TYPE_A && rdlength == 4 {
            addrs.push(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]));
        }
        offset += 10 + rdlength;
    }
    Ok((header, addrs))
}

/// The framing of DNS over every stream transport (TCP, TLS, QUIC): a 2-byte
/// big-endian length, then the message.
pub fn stream_framer() -> LengthFramer {
    LengthFramer::new(LengthPrefix::U16, ByteOrder::BigEndian).max_frame_length(65_535)
}
