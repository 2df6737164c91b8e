//! sprig's certificate and password functions: `genCA`, `genSelfSignedCert`, `genSignedCert`,
//! `buildCustomCert`, `genPrivateKey` (rsa, ecdsa), `htpasswd`, `bcrypt`. Their output is random
//! in Helm too (fresh keys, serials, validity from now), so they cannot match Helm byte for
//! byte; they produce what sprig's do: PEM certificates as Go's `x509.CreateCertificate` writes
//! them (v3, SHA-256 with RSA, the same extensions) and PKCS#1/SEC1 keys.

use std::rc::Rc;

use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::signature::{SignatureEncoding, Signer as _};

use super::{FuncTable, P, R, arg_int, arg_str};
use crate::template::error::GoError;
use crate::template::exec::State;
use crate::template::value::{MethodResult, Object, Value};

/// sprig's `certificate` struct: PEM certificate and key, plus what signing with it needs.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub cert: String,
    pub key: String,
    subject: Vec<u8>,
    private: Option<rsa::RsaPrivateKey>,
}

pub fn register(t: &mut FuncTable) {
    use P::{Any, Int, List, Str};
    t.add("genCA", &[Str, Int], |_, a| {
        gen_cert(arg_str(a, 0), &[], &[], arg_int(a, 1), None, true)
    });
    t.add("genSelfSignedCert", &[Str, List, List, Int], |_, a| {
        gen_cert(arg_str(a, 0), &list(&a[1]), &list(&a[2]), arg_int(a, 3), None, false)
    });
    t.add("genSignedCert", &[Str, List, List, Int, Any], gen_signed);
    t.add("buildCustomCert", &[Str, Str], build_custom);
    t.add("genPrivateKey", &[Str], |_, a| gen_private_key(arg_str(a, 0)));
    t.add("htpasswd", &[Str, Str], |_, a| {
        let user = arg_str(a, 0);
        if user.contains(':') {
            return Ok(Value::str(format!("invalid username: {user}")));
        }
        Ok(Value::str(format!("{user}:{}", bcrypt_hash(arg_str(a, 1))?)))
    });
    t.add("bcrypt", &[Str], |_, a| Ok(Value::str(bcrypt_hash(arg_str(a, 0))?)));
}

fn list(v: &Value) -> Vec<Value> {
    v.as_list().map(|l| l.items.clone()).unwrap_or_default()
}

fn err(e: impl std::fmt::Display) -> GoError {
    GoError::new(e.to_string())
}

/// Go's bcrypt at the default cost, `$2a$` form.
fn bcrypt_hash(pw: &str) -> Result<String, GoError> {
    let h = bcrypt::hash_with_result(pw, 10).map_err(err)?;
    Ok(h.format_for_version(bcrypt::Version::TwoA))
}

fn rsa_key(bits: usize) -> Result<rsa::RsaPrivateKey, GoError> {
    rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits)
        .map_err(|e| GoError::new(format!("error generating rsa key: {e}")))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out + &format!("-----END {label}-----\n")
}

fn gen_private_key(typ: &str) -> R {
    match typ {
        "" | "rsa" => {
            let k = rsa_key(4096)?;
            Ok(Value::str(pem(
                "RSA PRIVATE KEY",
                k.to_pkcs1_der().map_err(err)?.as_bytes(),
            )))
        }
        "ecdsa" => {
            let k = p256::SecretKey::random(&mut rand_core::OsRng);
            let der = k.to_sec1_der().map_err(err)?;
            Ok(Value::str(pem("EC PRIVATE KEY", &der)))
        }
        "dsa" | "ed25519" => Err(GoError::unsupported(format!("genPrivateKey {typ:?}"))),
        other => Ok(Value::str(format!("Unknown type {other}"))),
    }
}

// --- DER ---

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut chunk = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            chunk.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    tlv(0x06, &body)
}

/// A non-negative INTEGER from big-endian magnitude bytes.
fn uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut body = if trimmed.is_empty() { vec![0] } else { trimmed };
    if body[0] & 0x80 != 0 {
        body.insert(0, 0);
    }
    tlv(0x02, &body)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut body = vec![0];
    body.extend_from_slice(bytes);
    tlv(0x03, &body)
}

fn utc_time(secs: i64) -> Vec<u8> {
    let t = super::dates::Time { secs, nanos: 0 };
    let s = super::dates::format(&t, "060102150405Z");
    if (1950..2050).contains(&super::dates::format(&t, "2006").parse::<i32>().unwrap_or(0)) {
        tlv(0x17, s.as_bytes())
    } else {
        tlv(0x18, super::dates::format(&t, "20060102150405Z").as_bytes())
    }
}

/// A Name with one CommonName (Go: PrintableString when it fits, else UTF8String).
fn name_cn(cn: &str) -> Vec<u8> {
    let printable = cn
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let value = tlv(if printable { 0x13 } else { 0x0c }, cn.as_bytes());
    seq(&[tlv(0x31, &seq(&[oid(&[2, 5, 4, 3]), value]))])
}

fn extension(id: &[u64], critical: bool, value: Vec<u8>) -> Vec<u8> {
    let mut parts = vec![oid(id)];
    if critical {
        parts.push(tlv(0x01, &[0xff]));
    }
    parts.push(tlv(0x04, &value));
    seq(&parts)
}

fn sha256_alg() -> Vec<u8> {
    seq(&[oid(&[1, 2, 840, 113_549, 1, 1, 11]), vec![0x05, 0x00]])
}

fn random_serial() -> Result<Vec<u8>, GoError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(err)?;
    Ok(uint(&b))
}

fn sans(ips: &[Value], dns: &[Value]) -> Result<Option<Vec<u8>>, GoError> {
    let mut names = Vec::new();
    for d in dns {
        let s = d
            .as_str()
            .ok_or_else(|| GoError::new(format!("error processing alternate dns name: {d:?} is not a string")))?;
        names.push(tlv(0x82, s.as_bytes()));
    }
    for ip in ips {
        let s = ip
            .as_str()
            .ok_or_else(|| GoError::new(format!("error parsing ip: {ip:?} is not a string")))?;
        let addr: std::net::IpAddr = s.parse().map_err(|_| GoError::new(format!("error parsing ip: {s}")))?;
        let bytes = match addr {
            std::net::IpAddr::V4(v) => v.octets().to_vec(),
            std::net::IpAddr::V6(v) => v.octets().to_vec(),
        };
        names.push(tlv(0x87, &bytes));
    }
    Ok((!names.is_empty()).then(|| seq(&names)))
}

/// Key identifier: SHA-1 of the public key bits, as Go computes subjectKeyId for CAs.
fn key_id(public_der: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    sha1::Sha1::digest(public_der).to_vec()
}

fn extensions(is_ca: bool, ski: &[u8], aki: Option<&[u8]>, san: Option<Vec<u8>>) -> Vec<u8> {
    // KeyUsage: digitalSignature, keyEncipherment (+ keyCertSign for a CA).
    let ku = if is_ca {
        vec![0x03, 0x02, 0x02, 0xa4]
    } else {
        vec![0x03, 0x02, 0x05, 0xa0]
    };
    let eku = seq(&[oid(&[1, 3, 6, 1, 5, 5, 7, 3, 1]), oid(&[1, 3, 6, 1, 5, 5, 7, 3, 2])]);
    let bc = if is_ca { seq(&[tlv(0x01, &[0xff])]) } else { seq(&[]) };
    let mut exts = vec![
        extension(&[2, 5, 29, 15], true, ku),
        extension(&[2, 5, 29, 37], false, eku),
        extension(&[2, 5, 29, 19], true, bc),
    ];
    if is_ca {
        exts.push(extension(&[2, 5, 29, 14], false, tlv(0x04, ski)));
    }
    if let Some(aki) = aki {
        exts.push(extension(&[2, 5, 29, 35], false, seq(&[tlv(0x80, aki)])));
    }
    if let Some(san) = san {
        exts.push(extension(&[2, 5, 29, 17], false, san));
    }
    tlv(0xa3, &seq(&exts))
}

struct Issuer<'k> {
    subject: Vec<u8>,
    key: &'k rsa::RsaPrivateKey,
}

fn gen_cert(cn: &str, ips: &[Value], dns: &[Value], days: i64, parent: Option<Issuer<'_>>, is_ca: bool) -> R {
    let key = rsa_key(2048)?;
    let public = key.to_public_key().to_pkcs1_der().map_err(err)?;
    let spki = seq(&[
        seq(&[oid(&[1, 2, 840, 113_549, 1, 1, 1]), vec![0x05, 0x00]]),
        bit_string(public.as_bytes()),
    ]);
    let subject = name_cn(cn);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(err)?
        .as_secs() as i64;
    let ski = key_id(public.as_bytes());
    let (issuer, signing_key, aki) = match &parent {
        Some(p) => (
            p.subject.clone(),
            p.key,
            Some(key_id(p.key.to_public_key().to_pkcs1_der().map_err(err)?.as_bytes())),
        ),
        None => (subject.clone(), &key, None),
    };
    let tbs = seq(&[
        tlv(0xa0, &tlv(0x02, &[2])),
        random_serial()?,
        sha256_alg(),
        issuer,
        seq(&[utc_time(now), utc_time(now + days * 86_400)]),
        subject.clone(),
        spki,
        extensions(
            is_ca,
            &ski,
            aki.as_deref().filter(|_| parent.is_some()),
            sans(ips, dns)?,
        ),
    ]);
    let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(signing_key.clone());
    let sig = signer
        .try_sign(&tbs)
        .map_err(|e| GoError::new(format!("error creating certificate: {e}")))?;
    let der = seq(&[tbs, sha256_alg(), bit_string(&sig.to_vec())]);
    let key_pem = pem("RSA PRIVATE KEY", key.to_pkcs1_der().map_err(err)?.as_bytes());
    let c = Certificate {
        cert: pem("CERTIFICATE", &der),
        key: key_pem,
        subject,
        private: Some(key),
    };
    Ok(Value::Object(Rc::new(c)))
}

fn gen_signed(_: &mut State<'_>, a: &[Value]) -> R {
    let ca = match &a[4] {
        Value::Object(o) => o.as_any().downcast_ref::<Certificate>().cloned(),
        _ => None,
    };
    let Some(ca) = ca else {
        return Err(GoError::new(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            a[4].type_name()
        )));
    };
    let Some(key) = ca.private.as_ref() else {
        return Err(GoError::new("error parsing private key: no RSA key"));
    };
    let signer = Issuer {
        subject: ca.subject.clone(),
        key,
    };
    gen_cert(
        arg_str(a, 0),
        &list(&a[1]),
        &list(&a[2]),
        arg_int(a, 3),
        Some(signer),
        false,
    )
}

fn build_custom(_: &mut State<'_>, a: &[Value]) -> R {
    let dec = |s: &str, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| GoError::new(format!("unable to decode base64 {what}: {e}")))
    };
    let (cert, key) = (dec(arg_str(a, 0), "certificate")?, dec(arg_str(a, 1), "private key")?);
    let der = pem_body(&cert).ok_or_else(|| GoError::new("unable to decode certificate"))?;
    let subject = cert_subject(&der).ok_or_else(|| GoError::new("error parsing certificate"))?;
    let private = rsa::RsaPrivateKey::from_pkcs1_pem(&key).ok();
    Ok(Value::Object(Rc::new(Certificate {
        cert,
        key,
        subject,
        private,
    })))
}

fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// One DER element at the start of `d`: (tag, header length, total length).
fn der_elem(d: &[u8]) -> Option<(u8, usize, usize)> {
    let (tag, first) = (*d.first()?, *d.get(1)? as usize);
    if first < 0x80 {
        return Some((tag, 2, 2 + first));
    }
    let n = first & 0x7f;
    let len = d.get(2..2 + n)?.iter().fold(0usize, |acc, b| acc << 8 | *b as usize);
    Some((tag, 2 + n, 2 + n + len))
}

/// The subject Name of a DER certificate (the 6th field of TBSCertificate, after `[0]` version).
fn cert_subject(der: &[u8]) -> Option<Vec<u8>> {
    let (_, h, _) = der_elem(der)?;
    let tbs = &der[h..];
    let (_, th, _) = der_elem(tbs)?;
    let mut rest = &tbs[th..];
    let mut fields = Vec::new();
    while !rest.is_empty() && fields.len() < 7 {
        let (_, _, total) = der_elem(rest)?;
        fields.push(&rest[..total]);
        rest = &rest[total..];
    }
    let offset = usize::from(fields.first()?.first()? == &0xa0);
    fields.get(4 + offset).map(|f| f.to_vec())
}

impl Object for Certificate {
    fn type_name(&self) -> String {
        "sprig.certificate".into()
    }

    fn kind(&self) -> &'static str {
        "struct"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::str(self.cert.as_str())),
            "Key" => Some(Value::str(self.key.as_str())),
            _ => None,
        }
    }

    fn has_method(&self, _: &str) -> bool {
        false
    }

    fn call(&self, name: &str, _: &[Value]) -> MethodResult {
        Err(format!("{name} is not a method"))
    }

    fn display(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }

    fn to_data(&self) -> Value {
        let m = crate::template::value::Map::new(crate::template::value::MapType::Any);
        m.insert("Cert".into(), Value::str(self.cert.as_str()));
        m.insert("Key".into(), Value::str(self.key.as_str()));
        Value::Map(m)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
