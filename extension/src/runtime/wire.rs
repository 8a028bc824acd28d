//! osquery's Thrift protocol (binary protocol, unframed, over Unix sockets):
//! a client for the extension manager (osqueryd) and the server side of the
//! `Extension` service that osqueryd calls.
//!
//! The message structs (`ExtensionStatus`, `ExtensionResponse`) and their
//! serialisers come from osquery-rust-ng. Its `Server` is not used: it
//! registers with a fixed version "1.0", ignores a refused registration,
//! never notices being deregistered and has no panic guard around tables
//! (see docs/ARCHITECTURE.md); the calls below are the few it hides.

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use osquery_rust_ng::{ExtensionResponse, ExtensionStatus};
use thrift::protocol::{
    TBinaryInputProtocol, TBinaryOutputProtocol, TFieldIdentifier, TInputProtocol, TListIdentifier,
    TMapIdentifier, TMessageIdentifier, TMessageType, TOutputProtocol, TSerializable,
    TStructIdentifier, TType,
};
use thrift::{ApplicationError, ApplicationErrorKind};

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
    input: TBinaryInputProtocol<BufReader<UnixStream>>,
    output: TBinaryOutputProtocol<BufWriter<UnixStream>>,
    sequence: i32,
}

impl ManagerClient {
    pub fn connect(path: &Path, timeout: Duration) -> std::io::Result<ManagerClient> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let reader = stream.try_clone()?;
        Ok(ManagerClient {
            input: TBinaryInputProtocol::new(BufReader::new(reader), true),
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

/// Serves one connection until the peer closes it or sends garbage.
pub fn serve_connection(stream: UnixStream, handler: &dyn ExtensionHandler) -> thrift::Result<()> {
    let reader = stream.try_clone()?;
    let mut i = TBinaryInputProtocol::new(BufReader::new(reader), true);
    let mut o = TBinaryOutputProtocol::new(BufWriter::new(stream), true);
    loop {
        let message = match i.read_message_begin() {
            Ok(m) => m,
            // EOF between messages: the peer is done.
            Err(thrift::Error::Transport(e)) if e.kind == thrift::TransportErrorKind::EndOfFile => {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        let reply = |name: &str| {
            TMessageIdentifier::new(name, TMessageType::Reply, message.sequence_number)
        };
        match message.name.as_str() {
            "ping" => {
                i.skip(TType::Struct)?;
                i.read_message_end()?;
                let status = handler.ping();
                o.write_message_begin(&reply("ping"))?;
                write_success(&mut o, "ping_result", TType::Struct, &|o| {
                    status.write_to_out_protocol(o)
                })?;
            }
            "call" => {
                let mut registry = String::new();
                let mut item = String::new();
                let mut request = BTreeMap::new();
                read_struct(&mut i, &mut |i, id, kind| {
                    match (id, kind) {
                        (1, TType::String) => registry = i.read_string()?,
                        (2, TType::String) => item = i.read_string()?,
                        (3, TType::Map) => request = read_string_map(i)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                i.read_message_end()?;
                let response = handler.call(&registry, &item, &request);
                o.write_message_begin(&reply("call"))?;
                write_success(&mut o, "call_result", TType::Struct, &|o| {
                    response.write_to_out_protocol(o)
                })?;
            }
            "shutdown" => {
                i.skip(TType::Struct)?;
                i.read_message_end()?;
                o.write_message_begin(&reply("shutdown"))?;
                o.write_struct_begin(&TStructIdentifier::new("shutdown_result"))?;
                o.write_field_stop()?;
                o.write_struct_end()?;
                o.write_message_end()?;
                o.flush()?;
                handler.shutdown();
            }
            other => {
                i.skip(TType::Struct)?;
                i.read_message_end()?;
                let err = ApplicationError::new(
                    ApplicationErrorKind::UnknownMethod,
                    format!("postern does not implement {other}"),
                );
                o.write_message_begin(&TMessageIdentifier::new(
                    other,
                    TMessageType::Exception,
                    message.sequence_number,
                ))?;
                thrift::Error::write_application_error_to_out_protocol(&err, &mut o)?;
                o.write_message_end()?;
                o.flush()?;
            }
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
