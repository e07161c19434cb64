//! Datagrams to OSC messages: walks bundles itself, with a depth limit, and leaves each message
//! to `rosc`. Owns the framing only: it never interprets an address or an argument, and nothing
//! a sender nests makes it recurse more than a fixed number of levels.

use rosc::{OscMessage, OscPacket};

/// Bundles nested deeper than this are refused. Nothing legitimate nests that far, and a hostile
/// datagram could otherwise nest thousands of levels.
pub const MAX_BUNDLE_DEPTH: usize = 8;
/// Arrays nested deeper than this in a message are refused: decoded arrays are dropped
/// recursively, one stack frame per level.
pub const MAX_ARRAY_DEPTH: usize = 8;

const BUNDLE_TAG: &[u8] = b"#bundle\0";
const TIME_TAG_BYTES: usize = 8;
const SIZE_BYTES: usize = 4;

/// Why a datagram is not OSC we can read.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    #[error("bundles nested more than {MAX_BUNDLE_DEPTH} deep")]
    BundleDepth,
    #[error("arrays nested more than {MAX_ARRAY_DEPTH} deep in the type tags of a message")]
    ArrayDepth,
    #[error("bundle of {0} bytes is shorter than its 16-byte header")]
    BundleHeader(usize),
    #[error("bundle element size is cut short: {0} bytes left where 4 were expected")]
    ElementSize(usize),
    #[error("bundle element claims {claimed} bytes but only {left} remain")]
    ElementLength { claimed: usize, left: usize },
    #[error("{0}")]
    Decode(rosc::OscError),
    #[error("{0} bytes left over after the end of a message")]
    Trailing(usize),
}

/// The messages of one datagram in order, bundle contents flattened. All or nothing: a bundle is
/// meant to act as one, so a bad element drops the whole datagram. Time tags are ignored;
/// everything acts on arrival.
pub fn messages(datagram: &[u8]) -> Result<Vec<OscMessage>, Malformed> {
    let mut found = Vec::new();
    collect(datagram, 0, &mut found)?;
    Ok(found)
}

fn collect(
    packet: &[u8],
    enclosing_bundles: usize,
    found: &mut Vec<OscMessage>,
) -> Result<(), Malformed> {
    let Some(body) = packet.strip_prefix(BUNDLE_TAG) else {
        found.push(message(packet)?);
        return Ok(());
    };
    if enclosing_bundles == MAX_BUNDLE_DEPTH {
        return Err(Malformed::BundleDepth);
    }
    let mut elements = body
        .get(TIME_TAG_BYTES..)
        .ok_or(Malformed::BundleHeader(packet.len()))?;
    while !elements.is_empty() {
        let (size, rest) = elements
            .split_first_chunk::<SIZE_BYTES>()
            .ok_or(Malformed::ElementSize(elements.len()))?;
        let claimed = usize::try_from(u32::from_be_bytes(*size)).unwrap_or(usize::MAX);
        let element = rest.get(..claimed).ok_or(Malformed::ElementLength {
            claimed,
            left: rest.len(),
        })?;
        collect(element, enclosing_bundles + 1, found)?;
        elements = &rest[claimed..];
    }
    Ok(())
}

fn message(packet: &[u8]) -> Result<OscMessage, Malformed> {
    if array_depth(type_tags(packet)) > MAX_ARRAY_DEPTH {
        return Err(Malformed::ArrayDepth);
    }
    match rosc::decoder::decode_udp(packet).map_err(Malformed::Decode)? {
        ([], OscPacket::Message(message)) => Ok(message),
        (rest, OscPacket::Message(_)) => Err(Malformed::Trailing(rest.len())),
        // Only a packet starting with the bundle tag decodes as a bundle, and those never get here.
        (_, OscPacket::Bundle(_)) => Err(Malformed::Decode(rosc::OscError::BadPacket(
            "bundle where a message was expected",
        ))),
    }
}

/// A message's type tag string (",iff"), found without decoding the message; empty if absent.
fn type_tags(message: &[u8]) -> &[u8] {
    let address_end = message
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(message.len());
    // OSC strings end with a NUL and are padded to a multiple of four bytes.
    let tags = message
        .get((address_end + 1).next_multiple_of(4)..)
        .unwrap_or_default();
    let end = tags
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(tags.len());
    &tags[..end]
}

fn array_depth(tags: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0;
    for tag in tags {
        match tag {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        deepest = deepest.max(depth);
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosc::{OscBundle, OscTime, OscType};

    fn message_to(address: &str, args: Vec<OscType>) -> OscMessage {
        OscMessage {
            addr: address.into(),
            args,
        }
    }

    fn bundle(content: Vec<OscPacket>) -> OscPacket {
        OscPacket::Bundle(OscBundle {
            timetag: OscTime::from((0, 1)),
            content,
        })
    }

    fn encode(packet: &OscPacket) -> Vec<u8> {
        rosc::encoder::encode(packet).unwrap()
    }

    /// A bundle around `inner`, written by hand so that any depth can be built without recursion.
    fn wrap(inner: &[u8]) -> Vec<u8> {
        let mut wrapped = BUNDLE_TAG.to_vec();
        wrapped.extend([0, 0, 0, 0, 0, 0, 0, 1]);
        wrapped.extend(u32::try_from(inner.len()).unwrap().to_be_bytes());
        wrapped.extend(inner);
        wrapped
    }

    #[test]
    fn a_plain_message_is_one_message() {
        let on = message_to("/on", vec![OscType::Int(60), OscType::Float(0.5)]);
        let found = messages(&encode(&OscPacket::Message(on.clone()))).unwrap();
        assert_eq!(found, vec![on]);
    }

    #[test]
    fn nested_bundles_flatten_in_order() {
        let first = message_to("/off", vec![OscType::Int(1)]);
        let second = message_to("/panic", vec![]);
        let third = message_to("/state", vec![]);
        let packet = bundle(vec![
            OscPacket::Message(first.clone()),
            bundle(vec![OscPacket::Message(second.clone()), bundle(vec![])]),
            OscPacket::Message(third.clone()),
        ]);
        assert_eq!(
            messages(&encode(&packet)).unwrap(),
            vec![first, second, third]
        );
    }

    #[test]
    fn bundles_nest_up_to_the_limit_and_no_further() {
        let mut packet = encode(&OscPacket::Message(message_to("/panic", vec![])));
        for _ in 0..MAX_BUNDLE_DEPTH {
            packet = wrap(&packet);
        }
        assert_eq!(messages(&packet).unwrap().len(), 1);
        assert!(matches!(
            messages(&wrap(&packet)),
            Err(Malformed::BundleDepth)
        ));
    }

    #[test]
    fn a_datagram_full_of_nested_bundles_is_refused_without_overflowing() {
        let mut packet = encode(&OscPacket::Message(message_to("/panic", vec![])));
        while packet.len() < 65_000 {
            packet = wrap(&packet);
        }
        assert!(matches!(messages(&packet), Err(Malformed::BundleDepth)));
    }

    #[test]
    fn deeply_nested_arrays_are_refused_before_decoding() {
        let deep = 30_000;
        let mut packet = b"/on\0,".to_vec();
        packet.extend(std::iter::repeat_n(b'[', deep));
        packet.extend(std::iter::repeat_n(b']', deep));
        packet.push(0);
        packet.resize(packet.len().next_multiple_of(4), 0);
        assert!(matches!(messages(&packet), Err(Malformed::ArrayDepth)));

        let shallow = OscType::Array(rosc::OscArray {
            content: vec![OscType::Int(1)],
        });
        let found = messages(&encode(&OscPacket::Message(message_to(
            "/on",
            vec![shallow],
        ))));
        assert_eq!(found.unwrap().len(), 1);
    }

    #[test]
    fn broken_framing_is_malformed() {
        let good = encode(&bundle(vec![OscPacket::Message(message_to(
            "/panic",
            vec![],
        ))]));
        // Cut inside the element, inside its size, and inside the header.
        assert!(matches!(
            messages(&good[..good.len() - 4]),
            Err(Malformed::ElementLength { .. })
        ));
        assert!(matches!(
            messages(&good[..18]),
            Err(Malformed::ElementSize(2))
        ));
        assert!(matches!(
            messages(&good[..12]),
            Err(Malformed::BundleHeader(12))
        ));
        assert!(matches!(messages(b""), Err(Malformed::Decode(_))));
        assert!(matches!(messages(b"hello"), Err(Malformed::Decode(_))));
        assert!(matches!(
            messages(b"/on\0,i\0\0"),
            Err(Malformed::Decode(_))
        ));

        let mut trailing = encode(&OscPacket::Message(message_to("/panic", vec![])));
        trailing.extend([1, 2, 3, 4]);
        assert!(matches!(messages(&trailing), Err(Malformed::Trailing(4))));
    }

    #[test]
    fn one_bad_element_drops_the_whole_bundle() {
        let mut packet = encode(&bundle(vec![
            OscPacket::Message(message_to("/panic", vec![])),
            OscPacket::Message(message_to("/state", vec![])),
        ]));
        // The second element's address ("/state", 12 bytes with its type tags) loses its '/'.
        let second = packet.len() - 12;
        packet[second] = b'x';
        assert!(matches!(messages(&packet), Err(Malformed::Decode(_))));
    }
}
