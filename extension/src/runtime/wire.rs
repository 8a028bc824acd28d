//! osquery's Thrift protocol (binary protocol, unframed, over Unix sockets):
//! a client for the extension manager (osqueryd) and the server side of the
//! `Extension` service that osqueryd calls.
//!
//! The message structs (`ExtensionStatus`, `ExtensionResponse`) and their
//! serialisers come from osquery-rust-ng. Its `Server` is not used: it
//! registers with a fixed version "1.0", ignores a refused registration,
//! never notices being deregistered and has no panic guard around tables
//! (see docs/ARCHITECTURE.md); the calls below are the few it hides.
//!
//! Reading is bounded ([`BoundedInput`]): every declared length is checked
//! against what the request may still hold *before* anything is allocated,
//! a request must arrive whole within a deadline once its first byte has
//! come, and the bytes held by requests across all connections are capped.
//! A request that breaks a limit still gets a Thrift reply (an exception
//! naming the limit) before its connection is closed: osquery cannot tell a
//! dropped connection from a dead extension.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use osquery_rust_ng::{ExtensionResponse, ExtensionStatus};
use thrift::protocol::{
    TBinaryOutputProtocol, TFieldIdentifier, TInputProtocol, TListIdentifier, TMapIdentifier,
    TMessageIdentifier, TMessageType, TOutputProtocol, TSerializable, TSetIdentifier,
    TStructIdentifier, TType,
};
use thrift::{
    ApplicationError, ApplicationErrorKind, ProtocolError, ProtocolErrorKind, TransportError,
    TransportErrorKind,
};

pub type Proto<'a> = &'a mut dyn TOutputProtocol;

/// A plugin's routes: for a table, one map per column.
pub type Routes = Vec<BTreeMap<String, String>>;

/// What a registering extension declares: registry name -> item -> routes.
pub type Registry = BTreeMap<String, BTreeMap<String, Routes>>;

fn field(name: &str, kind: TType, id: i16) -> TFieldIdentifier {
    TFieldIdentifier::new(name, kind, id)
}

fn write_string_map(o: Proto<'_>, map: &BTreeMap<String, String>) -> thrift::Result<()> {
    o.write_map_begin(&TMapIdentifier::new(
        TType::String,
        TType::String,
        map.len() as i32,
    ))?;
    for (k, v) in map {
        o.write_string(k)?;
        o.write_string(v)?;
    }
    o.write_map_end()
}

fn write_routes(o: Proto<'_>, routes: &Routes) -> thrift::Result<()> {
    o.write_list_begin(&TListIdentifier::new(TType::Map, routes.len() as i32))?;
    for route in routes {
        write_string_map(o, route)?;
    }
    o.write_list_end()
}

fn write_registry(o: Proto<'_>, registry: &Registry) -> thrift::Result<()> {
    o.write_map_begin(&TMapIdentifier::new(
        TType::String,
        TType::Map,
        registry.len() as i32,
    ))?;
    for (name, items) in registry {
        o.write_string(name)?;
        o.write_map_begin(&TMapIdentifier::new(
            TType::String,
            TType::List,
            items.len() as i32,
        ))?;
        for (item, routes) in items {
            o.write_string(item)?;
            write_routes(o, routes)?;
        }
        o.write_map_end()?;
    }
    o.write_map_end()
}

fn read_string_map(i: &mut dyn TInputProtocol) -> thrift::Result<BTreeMap<String, String>> {
    let ident = i.read_map_begin()?;
    let mut map = BTreeMap::new();
    for _ in 0..ident.size.max(0) {
        let k = i.read_string()?;
        let v = i.read_string()?;
        map.insert(k, v);
    }
    i.read_map_end()?;
    Ok(map)
}

/// Reads a struct, handing each field to `on_field`; unknown fields are skipped
/// by returning `false`.
fn read_struct(
    i: &mut dyn TInputProtocol,
    on_field: &mut dyn FnMut(&mut dyn TInputProtocol, i16, TType) -> thrift::Result<bool>,
) -> thrift::Result<()> {
    i.read_struct_begin()?;
    loop {
        let f = i.read_field_begin()?;
        if f.field_type == TType::Stop {
            break;
        }
        let handled = on_field(i, f.id.unwrap_or(-1), f.field_type)?;
        if !handled {
            i.skip(f.field_type)?;
        }
        i.read_field_end()?;
    }
    i.read_struct_end()
}

fn protocol_error(message: String) -> thrift::Error {
    thrift::Error::Application(ApplicationError::new(
        ApplicationErrorKind::ProtocolError,
        message,
    ))
}

/// A connection to osqueryd's extension manager socket. osquery serves each
/// connection on its own thread; a client opens one per check.
pub struct ManagerClient {
    input: BoundedInput,
    output: TBinaryOutputProtocol<BufWriter<UnixStream>>,
    sequence: i32,
}

impl ManagerClient {
    pub fn connect(path: &Path, timeout: Duration) -> std::io::Result<ManagerClient> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let reader = stream.try_clone()?;
        // osquery's replies (the extension list, a status) are small; the
        // limits only keep a broken manager from costing memory.
        let limits = RequestLimits {
            message_deadline: timeout,
            idle_timeout: timeout,
            ..RequestLimits::default()
        };
        Ok(ManagerClient {
            input: BoundedInput::new(reader, limits, Arc::new(InFlight::new(usize::MAX))),
            output: TBinaryOutputProtocol::new(BufWriter::new(stream), true),
            sequence: 0,
        })
    }

    fn call<T>(
        &mut self,
        method: &str,
        write_args: &dyn Fn(Proto<'_>) -> thrift::Result<()>,
        read_success: &mut dyn FnMut(&mut dyn TInputProtocol) -> thrift::Result<T>,
    ) -> thrift::Result<T> {
        self.sequence = self.sequence.wrapping_add(1);
        let o = &mut self.output;
        o.write_message_begin(&TMessageIdentifier::new(
            method,
            TMessageType::Call,
            self.sequence,
        ))?;
        o.write_struct_begin(&TStructIdentifier::new(format!("{method}_args")))?;
        write_args(o)?;
        o.write_field_stop()?;
        o.write_struct_end()?;
        o.write_message_end()?;
        o.flush()?;

        let i = &mut self.input;
        i.begin_message();
        let message = i.read_message_begin()?;
        if message.message_type == TMessageType::Exception {
            let err = thrift::Error::read_application_error_from_in_protocol(i)?;
            i.read_message_end()?;
            return Err(thrift::Error::Application(err));
        }
        if message.name != method || message.sequence_number != self.sequence {
            return Err(protocol_error(format!(
                "reply to {} #{} while waiting for {method} #{}",
                message.name, message.sequence_number, self.sequence
            )));
        }
        let mut success = None;
        read_struct(i, &mut |i, id, kind| {
            if id == 0 && kind != TType::Stop {
                success = Some(read_success(i)?);
                Ok(true)
            } else {
                Ok(false)
            }
        })?;
        i.read_message_end()?;
        success.ok_or_else(|| protocol_error(format!("{method} returned no result")))
    }

    pub fn ping(&mut self) -> thrift::Result<ExtensionStatus> {
        self.call("ping", &|_| Ok(()), &mut |i| {
            ExtensionStatus::read_from_in_protocol(i)
        })
    }

    pub fn register_extension(
        &mut self,
        name: &str,
        version: &str,
        sdk_version: &str,
        registry: &Registry,
    ) -> thrift::Result<ExtensionStatus> {
        self.call(
            "registerExtension",
            &|o| {
                o.write_field_begin(&field("info", TType::Struct, 1))?;
                o.write_struct_begin(&TStructIdentifier::new("InternalExtensionInfo"))?;
                for (id, (fname, value)) in [
                    ("name", name),
                    ("version", version),
                    ("sdk_version", sdk_version),
                    ("min_sdk_version", "0.0.0"),
                ]
                .into_iter()
                .enumerate()
                {
                    o.write_field_begin(&field(fname, TType::String, id as i16 + 1))?;
                    o.write_string(value)?;
                    o.write_field_end()?;
                }
                o.write_field_stop()?;
                o.write_struct_end()?;
                o.write_field_end()?;
                o.write_field_begin(&field("registry", TType::Map, 2))?;
                write_registry(o, registry)?;
                o.write_field_end()
            },
            &mut |i| ExtensionStatus::read_from_in_protocol(i),
        )
    }

    pub fn deregister_extension(&mut self, uuid: i64) -> thrift::Result<ExtensionStatus> {
        self.call(
            "deregisterExtension",
            &|o| {
                o.write_field_begin(&field("uuid", TType::I64, 1))?;
                o.write_i64(uuid)?;
                o.write_field_end()
            },
            &mut |i| ExtensionStatus::read_from_in_protocol(i),
        )
    }

    /// Registered extensions: uuid -> name.
    pub fn extensions(&mut self) -> thrift::Result<BTreeMap<i64, String>> {
        self.call("extensions", &|_| Ok(()), &mut |i| {
            let ident = i.read_map_begin()?;
            let mut out = BTreeMap::new();
            for _ in 0..ident.size.max(0) {
                let uuid = i.read_i64()?;
                let mut name = String::new();
                read_struct(i, &mut |i, id, kind| {
                    if id == 1 && kind == TType::String {
                        name = i.read_string()?;
                        Ok(true)
                    } else {
                        Ok(false)
                    }
                })?;
                out.insert(uuid, name);
            }
            i.read_map_end()?;
            Ok(out)
        })
    }
}

/// Limits on one request, and on how long a connection may wait for one.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// Bytes one request may take, all of it counted (names, strings,
    /// framing). osquery's largest request is a table call whose query
    /// context lists the constraint values.
    pub max_message_bytes: usize,
    /// Time a request may take to arrive whole, from its first byte.
    pub message_deadline: Duration,
    /// Time a connection may sit without starting a request.
    pub idle_timeout: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_message_bytes: 32 << 20,
            message_deadline: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
        }
    }
}

/// Bytes held by requests being read, across every connection, against a
/// cap: past it a request is refused as busy instead of allocated.
#[derive(Debug)]
pub struct InFlight {
    bytes: AtomicUsize,
    cap: usize,
}

impl InFlight {
    pub fn new(cap: usize) -> Self {
        InFlight {
            bytes: AtomicUsize::new(0),
            cap,
        }
    }

    fn try_charge(&self, n: usize) -> bool {
        self.bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|total| *total <= self.cap)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                Some(held.saturating_sub(n))
            });
    }

    /// Bytes held right now.
    pub fn held(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }
}

fn size_error(message: String) -> thrift::Error {
    thrift::Error::Protocol(ProtocolError::new(ProtocolErrorKind::SizeLimit, message))
}

/// Thrift's binary protocol (strict or not, as osquery's C++ server
/// accepts) read from a Unix stream with the limits of [`RequestLimits`].
/// Call [`begin_message`](Self::begin_message) before each message.
pub struct BoundedInput {
    stream: UnixStream,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    limits: RequestLimits,
    /// Bytes the current message may still take.
    remaining: usize,
    /// When the current message's first byte arrived.
    started: Option<Instant>,
    in_flight: Arc<InFlight>,
    /// Bytes of the current message charged to `in_flight`.
    charged: usize,
}

impl BoundedInput {
    pub fn new(stream: UnixStream, limits: RequestLimits, in_flight: Arc<InFlight>) -> Self {
        BoundedInput {
            stream,
            buf: vec![0; 8192],
            pos: 0,
            end: 0,
            limits,
            remaining: limits.max_message_bytes,
            started: None,
            in_flight,
            charged: 0,
        }
    }

    /// Starts a new message: its byte budget and deadline start afresh (the
    /// deadline at once when bytes of it are already buffered).
    pub fn begin_message(&mut self) {
        self.in_flight.release(self.charged);
        self.charged = 0;
        self.remaining = self.limits.max_message_bytes;
        self.started = (self.pos < self.end).then(Instant::now);
    }

    /// True while no byte of the current message has arrived.
    pub fn nothing_read(&self) -> bool {
        self.started.is_none()
    }

    fn fill(&mut self) -> thrift::Result<()> {
        let wait = match self.started {
            None => self.limits.idle_timeout,
            Some(at) => self
                .limits
                .message_deadline
                .checked_sub(at.elapsed())
                .filter(|left| !left.is_zero())
                .ok_or_else(|| self.deadline_error())?,
        };
        self.stream.set_read_timeout(Some(wait))?;
        let n = loop {
            match self.stream.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(match self.started {
                        Some(_) => self.deadline_error(),
                        None => thrift::Error::Transport(TransportError::new(
                            TransportErrorKind::TimedOut,
                            "idle connection",
                        )),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            return Err(thrift::Error::Transport(TransportError::new(
                TransportErrorKind::EndOfFile,
                "the peer closed the connection",
            )));
        }
        self.pos = 0;
        self.end = n;
        self.started.get_or_insert_with(Instant::now);
        Ok(())
    }

    fn deadline_error(&self) -> thrift::Error {
        thrift::Error::Transport(TransportError::new(
            TransportErrorKind::TimedOut,
            format!(
                "request not received whole within {:.1} s",
                self.limits.message_deadline.as_secs_f64()
            ),
        ))
    }

    fn take(&mut self, n: usize) -> thrift::Result<()> {
        if n > self.remaining {
            return Err(size_error(format!(
                "request too large: over the {}-byte limit",
                self.limits.max_message_bytes
            )));
        }
        self.remaining -= n;
        Ok(())
    }

    fn read_exact(&mut self, out: &mut [u8]) -> thrift::Result<()> {
        self.take(out.len())?;
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.end {
                self.fill()?;
            }
            let n = (self.end - self.pos).min(out.len() - done);
            if let (Some(dst), Some(src)) = (
                out.get_mut(done..done + n),
                self.buf.get(self.pos..self.pos + n),
            ) {
                dst.copy_from_slice(src);
            }
            self.pos += n;
            done += n;
        }
        Ok(())
    }

    fn read_array<const N: usize>(&mut self) -> thrift::Result<[u8; N]> {
        let mut out = [0u8; N];
        self.read_exact(&mut out)?;
        Ok(out)
    }

    /// A declared byte length, checked against what the message may still
    /// hold and charged to the in-flight total before anything is allocated.
    fn byte_length(&mut self, declared: i32) -> thrift::Result<usize> {
        let Ok(n) = usize::try_from(declared) else {
            return Err(thrift::Error::Protocol(ProtocolError::new(
                ProtocolErrorKind::NegativeSize,
                format!("negative length {declared}"),
            )));
        };
        if n > self.remaining {
            return Err(size_error(format!(
                "request too large: a {n}-byte string over the {}-byte limit",
                self.limits.max_message_bytes
            )));
        }
        if !self.in_flight.try_charge(n) {
            return Err(size_error(format!(
                "postern is busy: {} bytes of requests are already being read",
                self.in_flight.held()
            )));
        }
        self.charged += n;
        Ok(n)
    }

    /// A declared element count: every element takes at least a byte, so a
    /// count larger than what the message may still hold is a lie.
    fn element_count(&self, declared: i32) -> thrift::Result<i32> {
        match usize::try_from(declared) {
            Err(_) => Err(thrift::Error::Protocol(ProtocolError::new(
                ProtocolErrorKind::NegativeSize,
                format!("negative element count {declared}"),
            ))),
            Ok(n) if n > self.remaining => Err(size_error(format!(
                "request too large: {n} elements declared in what is left of the {}-byte limit",
                self.limits.max_message_bytes
            ))),
            Ok(_) => Ok(declared),
        }
    }

    fn read_type(&mut self) -> thrift::Result<TType> {
        Ok(match self.read_byte()? {
            0x00 => TType::Stop,
            0x01 => TType::Void,
            0x02 => TType::Bool,
            0x03 => TType::I08,
            0x04 => TType::Double,
            0x06 => TType::I16,
            0x08 => TType::I32,
            0x0a => TType::I64,
            0x0b => TType::String,
            0x0c => TType::Struct,
            0x0d => TType::Map,
            0x0e => TType::Set,
            0x0f => TType::List,
            0x10 => TType::Utf8,
            0x11 => TType::Utf16,
            other => {
                return Err(thrift::Error::Protocol(ProtocolError::new(
                    ProtocolErrorKind::InvalidData,
                    format!("unknown Thrift type {other}"),
                )))
            }
        })
    }
}

impl Drop for BoundedInput {
    fn drop(&mut self) {
        self.in_flight.release(self.charged);
    }
}

impl TInputProtocol for BoundedInput {
    fn read_message_begin(&mut self) -> thrift::Result<TMessageIdentifier> {
        let header = self.read_i32()?;
        if header < 0 {
            // Strict: 0x8001 version, then the message type in the low byte.
            if (header as u32) & 0xffff_0000 != 0x8001_0000 {
                return Err(thrift::Error::Protocol(ProtocolError::new(
                    ProtocolErrorKind::BadVersion,
                    format!("bad protocol version header {:#010x}", header as u32),
                )));
            }
            let kind = TMessageType::try_from((header & 0xff) as u8)?;
            let name = self.read_string()?;
            let sequence = self.read_i32()?;
            Ok(TMessageIdentifier::new(name, kind, sequence))
        } else {
            // Old, non-strict framing: the header is the name's length.
            let n = self.byte_length(header)?;
            let mut name = vec![0; n];
            self.read_exact(&mut name)?;
            let name = String::from_utf8(name)?;
            let kind = TMessageType::try_from(self.read_byte()?)?;
            let sequence = self.read_i32()?;
            Ok(TMessageIdentifier::new(name, kind, sequence))
        }
    }

    fn read_message_end(&mut self) -> thrift::Result<()> {
        Ok(())
    }

    fn read_struct_begin(&mut self) -> thrift::Result<Option<TStructIdentifier>> {
        Ok(None)
    }

    fn read_struct_end(&mut self) -> thrift::Result<()> {
        Ok(())
    }

    fn read_field_begin(&mut self) -> thrift::Result<TFieldIdentifier> {
        let kind = self.read_type()?;
        let id = match kind {
            TType::Stop => 0,
            _ => self.read_i16()?,
        };
        Ok(TFieldIdentifier::new::<Option<String>, String, i16>(
            None, kind, id,
        ))
    }

    fn read_field_end(&mut self) -> thrift::Result<()> {
        Ok(())
    }

    fn read_bool(&mut self) -> thrift::Result<bool> {
        Ok(self.read_i8()? != 0)
    }

    fn read_bytes(&mut self) -> thrift::Result<Vec<u8>> {
        let declared = self.read_i32()?;
        let n = self.byte_length(declared)?;
        let mut out = vec![0; n];
        self.read_exact(&mut out)?;
        Ok(out)
    }

    fn read_i8(&mut self) -> thrift::Result<i8> {
        Ok(i8::from_be_bytes(self.read_array()?))
    }

    fn read_i16(&mut self) -> thrift::Result<i16> {
        Ok(i16::from_be_bytes(self.read_array()?))
    }

    fn read_i32(&mut self) -> thrift::Result<i32> {
        Ok(i32::from_be_bytes(self.read_array()?))
    }

    fn read_i64(&mut self) -> thrift::Result<i64> {
        Ok(i64::from_be_bytes(self.read_array()?))
    }

    fn read_double(&mut self) -> thrift::Result<f64> {
        Ok(f64::from_be_bytes(self.read_array()?))
    }

    fn read_string(&mut self) -> thrift::Result<String> {
        Ok(String::from_utf8(self.read_bytes()?)?)
    }

    fn read_list_begin(&mut self) -> thrift::Result<TListIdentifier> {
        let kind = self.read_type()?;
        let size = self.read_i32()?;
        Ok(TListIdentifier::new(kind, self.element_count(size)?))
    }

    fn read_list_end(&mut self) -> thrift::Result<()> {
        Ok(())
    }

    fn read_set_begin(&mut self) -> thrift::Result<TSetIdentifier> {
        let kind = self.read_type()?;
        let size = self.read_i32()?;
        Ok(TSetIdentifier::new(kind, self.element_count(size)?))
    }

    fn read_set_end(&mut self) -> thrift::Result<()> {
        Ok(())
    }

    fn read_map_begin(&mut self) -> thrift::Result<TMapIdentifier> {
        let key = self.read_type()?;
        let value = self.read_type()?;
        let size = self.read_i32()?;
        Ok(TMapIdentifier::new(key, value, self.element_count(size)?))
    }

    fn read_map_end(&mut self) -> thrift::Result<()> {
        Ok(())
    }

    fn read_byte(&mut self) -> thrift::Result<u8> {
        Ok(self.read_array::<1>()?[0])
    }
}

/// What the extension does for each call osqueryd makes.
pub trait ExtensionHandler: Send + Sync {
    fn ping(&self) -> ExtensionStatus;
    fn call(
        &self,
        registry: &str,
        item: &str,
        request: &BTreeMap<String, String>,
    ) -> ExtensionResponse;
    fn shutdown(&self);
}

/// One request of the `Extension` service.
enum Request {
    Ping,
    Call {
        registry: String,
        item: String,
        request: BTreeMap<String, String>,
    },
    Shutdown,
    Unknown,
}

fn read_request(i: &mut BoundedInput, method: &str) -> thrift::Result<Request> {
    let request = match method {
        "ping" => {
            i.skip(TType::Struct)?;
            Request::Ping
        }
        "shutdown" => {
            i.skip(TType::Struct)?;
            Request::Shutdown
        }
        "call" => {
            let mut registry = String::new();
            let mut item = String::new();
            let mut request = BTreeMap::new();
            read_struct(i, &mut |i, id, kind| {
                match (id, kind) {
                    (1, TType::String) => registry = i.read_string()?,
                    (2, TType::String) => item = i.read_string()?,
                    (3, TType::Map) => request = read_string_map(i)?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
            Request::Call {
                registry,
                item,
                request,
            }
        }
        _ => {
            i.skip(TType::Struct)?;
            Request::Unknown
        }
    };
    i.read_message_end()?;
    Ok(request)
}

/// The exception osquery's client receives for a request postern could not
/// take: the reason, so that osquery's log says why.
fn write_exception(
    o: Proto<'_>,
    method: &str,
    sequence: i32,
    kind: ApplicationErrorKind,
    message: String,
) -> thrift::Result<()> {
    o.write_message_begin(&TMessageIdentifier::new(
        method,
        TMessageType::Exception,
        sequence,
    ))?;
    thrift::Error::write_application_error_to_out_protocol(
        &ApplicationError::new(kind, message),
        o,
    )?;
    o.write_message_end()?;
    o.flush()
}

/// The message of a Thrift error (its `Display` shows only the kind).
pub fn error_text(e: &thrift::Error) -> String {
    match e {
        thrift::Error::Protocol(p) => p.message.clone(),
        thrift::Error::Transport(t) => t.message.clone(),
        thrift::Error::Application(a) => a.message.clone(),
        thrift::Error::User(u) => u.to_string(),
    }
}

fn exception_kind(e: &thrift::Error) -> ApplicationErrorKind {
    match e {
        thrift::Error::Protocol(p) if p.kind == ProtocolErrorKind::SizeLimit => {
            ApplicationErrorKind::ProtocolError
        }
        thrift::Error::Protocol(_) => ApplicationErrorKind::ProtocolError,
        _ => ApplicationErrorKind::InternalError,
    }
}

/// Serves one connection until the peer closes it, goes idle, or sends a
/// request that breaks a limit (which is answered with an exception first).
pub fn serve_connection(
    stream: UnixStream,
    limits: RequestLimits,
    in_flight: Arc<InFlight>,
    handler: &dyn ExtensionHandler,
) -> thrift::Result<()> {
    // A peer that stops reading must not hold this thread for ever.
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let writer = stream.try_clone()?;
    let mut i = BoundedInput::new(stream, limits, in_flight);
    let mut o = TBinaryOutputProtocol::new(BufWriter::new(writer), true);
    loop {
        i.begin_message();
        let message = match i.read_message_begin() {
            Ok(m) => m,
            // Closed or idle between requests: nothing is owed.
            Err(_) if i.nothing_read() => return Ok(()),
            Err(e) => {
                write_exception(&mut o, "", 0, exception_kind(&e), error_text(&e))?;
                return Err(e);
            }
        };
        let sequence = message.sequence_number;
        let request = match message.message_type {
            TMessageType::Call | TMessageType::OneWay => read_request(&mut i, &message.name),
            other => Err(thrift::Error::Protocol(ProtocolError::new(
                ProtocolErrorKind::InvalidData,
                format!("a {other:?} message is not a request"),
            ))),
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                write_exception(
                    &mut o,
                    &message.name,
                    sequence,
                    exception_kind(&e),
                    error_text(&e),
                )?;
                return Err(e);
            }
        };
        // The request's bytes stay charged until it has been answered (the
        // next `begin_message`, or the end of the connection), so requests
        // waiting for a table slot count against the in-flight cap too.
        let reply = TMessageIdentifier::new(&message.name, TMessageType::Reply, sequence);
        match request {
            Request::Ping => {
                let status = handler.ping();
                o.write_message_begin(&reply)?;
                write_success(&mut o, "ping_result", TType::Struct, &|o| {
                    status.write_to_out_protocol(o)
                })?;
            }
            Request::Call {
                registry,
                item,
                request,
            } => {
                let response = handler.call(&registry, &item, &request);
                drop(request);
                o.write_message_begin(&reply)?;
                write_success(&mut o, "call_result", TType::Struct, &|o| {
                    response.write_to_out_protocol(o)
                })?;
            }
            Request::Shutdown => {
                o.write_message_begin(&reply)?;
                o.write_struct_begin(&TStructIdentifier::new("shutdown_result"))?;
                o.write_field_stop()?;
                o.write_struct_end()?;
                o.write_message_end()?;
                o.flush()?;
                handler.shutdown();
            }
            Request::Unknown => write_exception(
                &mut o,
                &message.name,
                sequence,
                ApplicationErrorKind::UnknownMethod,
                format!("postern does not implement {}", message.name),
            )?,
        }
    }
}

fn write_success(
    o: Proto<'_>,
    result_name: &str,
    kind: TType,
    write_value: &dyn Fn(Proto<'_>) -> thrift::Result<()>,
) -> thrift::Result<()> {
    o.write_struct_begin(&TStructIdentifier::new(result_name))?;
    o.write_field_begin(&field("success", kind, 0))?;
    write_value(o)?;
    o.write_field_end()?;
    o.write_field_stop()?;
    o.write_struct_end()?;
    o.write_message_end()?;
    o.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn input_with(
        bytes: &[u8],
        limits: RequestLimits,
    ) -> std::io::Result<(BoundedInput, UnixStream)> {
        let (ours, mut theirs) = UnixStream::pair()?;
        theirs.write_all(bytes)?;
        Ok((
            BoundedInput::new(ours, limits, Arc::new(InFlight::new(1 << 20))),
            theirs,
        ))
    }

    fn strict_header(name_len: i32) -> Vec<u8> {
        let mut b = 0x8001_0001u32.to_be_bytes().to_vec();
        b.extend(name_len.to_be_bytes());
        b
    }

    #[test]
    fn lengths_are_checked_before_allocation() -> std::io::Result<()> {
        let limits = RequestLimits::default();
        let (mut i, _peer) = input_with(&strict_header(-5), limits)?;
        i.begin_message();
        let e = i.read_message_begin().err().map(|e| error_text(&e));
        assert!(
            e.as_deref().is_some_and(|m| m.contains("negative length")),
            "{e:?}"
        );

        // 2 GiB declared with nothing behind it: refused at once, not awaited.
        let (mut i, _peer) = input_with(&strict_header(i32::MAX), limits)?;
        i.begin_message();
        let e = i.read_message_begin().err().map(|e| error_text(&e));
        assert!(
            e.as_deref()
                .is_some_and(|m| m.contains("request too large")),
            "{e:?}"
        );

        // A map that claims more entries than bytes remain.
        let mut map = vec![0x0b, 0x0b];
        map.extend(i32::MAX.to_be_bytes());
        let (mut i, _peer) = input_with(&map, limits)?;
        i.begin_message();
        assert!(i.read_map_begin().is_err());
        Ok(())
    }

    #[test]
    fn in_flight_bytes_are_capped_and_released() -> std::io::Result<()> {
        let (ours, mut theirs) = UnixStream::pair()?;
        let in_flight = Arc::new(InFlight::new(10));
        let mut bytes = 8i32.to_be_bytes().to_vec();
        bytes.extend(b"12345678");
        bytes.extend(8i32.to_be_bytes());
        bytes.extend(b"abcdefgh");
        theirs.write_all(&bytes)?;
        let mut i = BoundedInput::new(ours, RequestLimits::default(), in_flight.clone());
        i.begin_message();
        assert_eq!(i.read_string().ok().as_deref(), Some("12345678"));
        assert_eq!(in_flight.held(), 8);
        let e = i.read_string().err().map(|e| error_text(&e));
        assert!(e.as_deref().is_some_and(|m| m.contains("busy")), "{e:?}");
        i.begin_message();
        assert_eq!(in_flight.held(), 0);
        Ok(())
    }

    #[test]
    fn a_half_sent_message_times_out_at_its_deadline() -> std::io::Result<()> {
        let limits = RequestLimits {
            message_deadline: Duration::from_millis(200),
            ..RequestLimits::default()
        };
        // The header and half the name, then nothing.
        let mut bytes = strict_header(4);
        bytes.extend(b"pi");
        let (mut i, _peer) = input_with(&bytes, limits)?;
        i.begin_message();
        let started = Instant::now();
        let e = i.read_message_begin().err().map(|e| error_text(&e));
        assert!(
            e.as_deref()
                .is_some_and(|m| m.contains("not received whole")),
            "{e:?}"
        );
        assert!(!i.nothing_read());
        assert!(started.elapsed() < Duration::from_secs(5));
        Ok(())
    }
}
