//! sprig's arithmetic: integer functions on `int64` (cast's conversions), the `…f` functions
//! through shopspring/decimal as sprig does (so `addf 0.1 0.2` is `0.3`), sequences.

use super::conv::{to_float64, to_int64};
use super::{FuncTable, P, R, arg_int};
use crate::template::error::GoError;
use crate::template::exec::State;
use crate::template::value::{ListType, Value};

fn i(v: i64) -> R {
    Ok(Value::Int64(v))
}

pub fn register(t: &mut FuncTable) {
    use P::{Any, Int};
    t.add("add1", &[Any], |_, a| i(to_int64(&a[0]).wrapping_add(1)));
    t.add_variadic("add", &[], Any, |_, a| {
        i(a.iter().fold(0i64, |s, v| s.wrapping_add(to_int64(v))))
    });
    t.add("sub", &[Any, Any], |_, a| {
        i(to_int64(&a[0]).wrapping_sub(to_int64(&a[1])))
    });
    t.add("div", &[Any, Any], |_, a| int_div(a, false));
    t.add("mod", &[Any, Any], |_, a| int_div(a, true));
    t.add_variadic("mul", &[Any], Any, |_, a| {
        i(a[1..].iter().fold(to_int64(&a[0]), |s, v| s.wrapping_mul(to_int64(v))))
    });
    t.add_variadic("max", &[Any], Any, |_, a| {
        i(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max))
    });
    t.add_variadic("biggest", &[Any], Any, |_, a| {
        i(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max))
    });
    t.add_variadic("min", &[Any], Any, |_, a| {
        i(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::min))
    });
    t.add_variadic("maxf", &[Any], Any, |_, a| {
        Ok(Value::Float(
            a[1..].iter().map(to_float64).fold(to_float64(&a[0]), go_max),
        ))
    });
    t.add_variadic("minf", &[Any], Any, |_, a| {
        Ok(Value::Float(
            a[1..].iter().map(to_float64).fold(to_float64(&a[0]), go_min),
        ))
    });
    t.add("floor", &[Any], |_, a| Ok(Value::Float(to_float64(&a[0]).floor())));
    t.add("ceil", &[Any], |_, a| Ok(Value::Float(to_float64(&a[0]).ceil())));
    t.add_variadic("round", &[Any, Int], P::Float, round);
    t.add("add1f", &[Any], |_, a| decimal_op(&a[0], &[Value::Int(1)], Op::Add));
    t.add_variadic("addf", &[], Any, |_, a| decimal_op(&Value::Float(0.0), a, Op::Add));
    t.add_variadic("subf", &[Any], Any, |_, a| decimal_op(&a[0], &a[1..], Op::Sub));
    t.add_variadic("mulf", &[Any], Any, |_, a| decimal_op(&a[0], &a[1..], Op::Mul));
    t.add_variadic("divf", &[Any], Any, |_, a| decimal_op(&a[0], &a[1..], Op::Div));
    t.add("until", &[Int], |_, a| {
        let n = arg_int(a, 0);
        Ok(int_list(until_step(0, n, if n < 0 { -1 } else { 1 })))
    });
    t.add("untilStep", &[Int, Int, Int], |_, a| {
        Ok(int_list(until_step(arg_int(a, 0), arg_int(a, 1), arg_int(a, 2))))
    });
    t.add_variadic("seq", &[], Int, seq);
    t.add("randInt", &[Int, Int], rand_int);
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

fn int_div(a: &[Value], modulo: bool) -> R {
    let (x, y) = (to_int64(&a[0]), to_int64(&a[1]));
    if y == 0 {
        return Err(GoError::new("runtime error: integer divide by zero"));
    }
    i(if modulo { x.wrapping_rem(y) } else { x.wrapping_div(y) })
}

fn round(_: &mut State<'_>, a: &[Value]) -> R {
    let round_on = match a.get(2) {
        Some(Value::Float(f)) => *f,
        _ => 0.5,
    };
    let val = to_float64(&a[0]);
    let pow = 10f64.powf(arg_int(a, 1) as f64);
    let digit = pow * val;
    let frac = digit.fract();
    let r = if frac >= round_on { digit.ceil() } else { digit.floor() };
    Ok(Value::Float(r / pow))
}

fn int_list(v: Vec<i64>) -> Value {
    Value::typed_list(ListType::Int, v.into_iter().map(Value::Int).collect())
}

/// sprig's `untilStep`.
fn until_step(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let mut v = Vec::new();
    if stop < start {
        if step >= 0 {
            return v;
        }
        let mut i = start;
        while i > stop {
            v.push(i);
            i += step;
        }
        return v;
    }
    if step <= 0 {
        return v;
    }
    let mut i = start;
    while i < stop {
        v.push(i);
        i += step;
    }
    v
}

fn seq(_: &mut State<'_>, a: &[Value]) -> R {
    let p: Vec<i64> = a.iter().map(|v| if let Value::Int(n) = v { *n } else { 0 }).collect();
    let list = match p.as_slice() {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            until_step(1, end + inc, inc)
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(*start, end + step, step)
        }
        [start, step, end] => {
            let inc = if end < start { -1 } else { 1 };
            if end < start && *step > 0 {
                return Ok(Value::str(""));
            }
            until_step(*start, end + inc, *step)
        }
        _ => return Ok(Value::str("")),
    };
    Ok(Value::str(
        list.iter().map(i64::to_string).collect::<Vec<_>>().join(" "),
    ))
}

fn rand_int(_: &mut State<'_>, a: &[Value]) -> R {
    let (min, max) = (arg_int(a, 0), arg_int(a, 1));
    if max <= min {
        return Err(GoError::new("invalid argument to Intn"));
    }
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| GoError::new(e.to_string()))?;
    let r = u64::from_le_bytes(b) % (max - min) as u64;
    Ok(Value::Int(min + r as i64))
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// A decimal number: mantissa × 10^exp (shopspring/decimal's model).
#[derive(Clone, Copy)]
struct Dec {
    m: i128,
    e: i32,
}

impl Dec {
    /// `decimal.NewFromFloat`: the shortest decimal that round-trips.
    fn from_f64(f: f64) -> Dec {
        if f == 0.0 || !f.is_finite() {
            return Dec { m: 0, e: 0 };
        }
        let s = format!("{:e}", f);
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let neg = mant.starts_with('-');
        let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
        let m: i128 = digits.parse().unwrap_or(0);
        Dec {
            m: if neg { -m } else { m },
            e: exp - (digits.len() as i32 - 1),
        }
    }

    fn align(a: Dec, b: Dec) -> (i128, i128, i32) {
        let e = a.e.min(b.e);
        let scale = |d: Dec| d.m.saturating_mul(10i128.saturating_pow((d.e - e) as u32));
        (scale(a), scale(b), e)
    }

    fn apply(self, op: Op, b: Dec) -> Dec {
        match op {
            Op::Add => {
                let (x, y, e) = Dec::align(self, b);
                Dec {
                    m: x.saturating_add(y),
                    e,
                }
            }
            Op::Sub => {
                let (x, y, e) = Dec::align(self, b);
                Dec {
                    m: x.saturating_sub(y),
                    e,
                }
            }
            Op::Mul => Dec {
                m: self.m.saturating_mul(b.m),
                e: self.e + b.e,
            },
            Op::Div => self.div(b),
        }
    }

    /// `DivRound(d2, 16)`: the quotient rounded half away from zero to 16 decimal places.
    fn div(self, b: Dec) -> Dec {
        if b.m == 0 {
            return Dec { m: 0, e: 0 };
        }
        // self/b = (m1/m2) × 10^(e1-e2); want q × 10^-17 then round to 10^-16.
        let shift = 17 + self.e - b.e;
        let (num, den) = if shift >= 0 {
            (self.m.saturating_mul(10i128.saturating_pow(shift as u32)), b.m)
        } else {
            (self.m, b.m.saturating_mul(10i128.saturating_pow((-shift) as u32)))
        };
        let q17 = num / den;
        let mut q = q17 / 10;
        if (q17 % 10).abs() >= 5 {
            q += q17.signum();
        }
        Dec { m: q, e: -16 }
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.m, self.e).parse().unwrap_or(0.0)
    }
}

fn decimal_op(first: &Value, rest: &[Value], op: Op) -> R {
    let mut acc = Dec::from_f64(to_float64(first));
    for v in rest {
        acc = acc.apply(op, Dec::from_f64(to_float64(v)));
    }
    Ok(Value::Float(acc.to_f64()))
}
