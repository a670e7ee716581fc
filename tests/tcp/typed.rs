//! Typed frames end to end: a codec decoding to a request type and encoding a response
//! type, the application answering with the bare frame through `app::answer`.

use bytes::{BufMut, BytesMut};
use tendril_net::app::{acceptor_fn, answer, service};
use tendril_net::framer::FramerSwitch;
use tendril_net::wrap::NoWrapper;
use tendril_net::{Manager, TcpManager};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder};

use crate::support::*;

/// A request is one byte; the response its double as two bytes.
struct Request(u8);
struct Doubled(u16);

struct Codec;

impl Decoder for Codec {
    type Item = Request;
    type Error = std::io::Error;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Request>, Self::Error> {
        Ok((!src.is_empty()).then(|| Request(src.split_to(1)[0])))
    }
}

impl Encoder<Doubled> for Codec {
    type Error = std::io::Error;
    fn encode(&mut self, item: Doubled, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.put_u16(item.0);
        Ok(())
    }
}

#[tokio::test]
async fn answer_replies_with_the_bare_typed_frame() {
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start_with_framers(
            acceptor_fn(|_tendril| {
                Ok(answer(|request: Request| async move {
                    Ok(Doubled(u16::from(request.0) * 2))
                }))
            }),
            NoWrapper,
            || FramerSwitch::with_framers(Codec, Codec),
        )
        .unwrap();
    let mut stream = client(addr, &[1, 2, 200]).await;
    let mut answers = [0u8; 6];
    within(stream.read_exact(&mut answers)).await.unwrap();
    assert_eq!(answers, [0, 2, 0, 4, 1, 144]);
    manager.shutdown();
}

/// `service` with `Option` of a typed frame: `None` answers nothing.
#[tokio::test]
async fn service_replies_some_or_none() {
    let manager = TcpManager::new(localhost());
    let addr = manager
        .start_with_framers(
            acceptor_fn(|_tendril| {
                Ok(service(|request: Request| async move {
                    Ok((request.0 % 2 == 0).then(|| Doubled(u16::from(request.0) * 2)))
                }))
            }),
            NoWrapper,
            || FramerSwitch::with_framers(Codec, Codec),
        )
        .unwrap();
    let mut stream = client(addr, &[1, 2, 3, 4]).await;
    let mut answers = [0u8; 4];
    within(stream.read_exact(&mut answers)).await.unwrap();
    assert_eq!(answers, [0, 4, 0, 8]);
    within(stream.shutdown()).await.unwrap();
    assert_eq!(read_to_end(&mut stream).await, b"");
    manager.shutdown();
}
