//! Tensors ⇄ NumPy arrays, and state dicts (`{name: array}`) ⇄ [`Params`] of a model.
//!
//! Arrays cross by copy: a model is small next to the cost of training it, and a copy
//! leaves no NumPy array aliasing a tensor that libtorch later updates in place.

use std::collections::HashMap;

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use valley::params::Params;
use valley::{Kind, Model, Tensor};

use crate::errors::{fail, valley_err};

/// A CPU copy of `t` as a NumPy array of the same shape: float32, float64 or int64
/// (float16/bfloat16 widen to float32).
pub fn to_numpy<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let flat = t.to_device(valley::Device::Cpu).contiguous().reshape([-1]);
    let array = match t.kind() {
        Kind::Float | Kind::Half | Kind::BFloat16 => {
            let v = Vec::<f32>::try_from(&flat.to_kind(Kind::Float)).map_err(valley_err)?;
            PyArray1::from_vec(py, v).reshape(shape)?.into_any()
        }
        Kind::Double => {
            PyArray1::from_vec(py, Vec::<f64>::try_from(&flat).map_err(valley_err)?).reshape(shape)?.into_any()
        }
        Kind::Int64 => {
            PyArray1::from_vec(py, Vec::<i64>::try_from(&flat).map_err(valley_err)?).reshape(shape)?.into_any()
        }
        other => return Err(fail(format!("cannot convert a tensor of kind {other:?} to NumPy"))),
    };
    Ok(array)
}

fn copy_of<T: numpy::Element + tch::kind::Element>(a: &Bound<'_, PyArrayDyn<T>>, name: &str) -> PyResult<Tensor> {
    let shape: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
    let ro = a.readonly();
    let data = ro
        .as_slice()
        .map_err(|_| fail(format!("tensor `{name}`: the array is not contiguous (pass numpy.ascontiguousarray(a))")))?;
    Ok(Tensor::from_slice(data).reshape(shape))
}

/// A tensor copied from a NumPy array of float32, float64 or int64.
pub fn from_numpy(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        return copy_of(a, name);
    }
    if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
        return copy_of(a, name);
    }
    if let Ok(a) = obj.cast::<PyArrayDyn<i64>>() {
        return copy_of(a, name);
    }
    let what = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an unknown type".into());
    let dtype = obj.getattr("dtype").map(|d| format!(" of dtype {d}")).unwrap_or_default();
    Err(fail(format!("tensor `{name}` must be a NumPy array of float32, float64 or int64, got {what}{dtype}")))
}

/// Every `{name: array}` entry as a tensor.
pub fn tensors_of(dict: &Bound<'_, PyDict>) -> PyResult<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for (k, v) in dict.iter() {
        let name: String = k.extract().map_err(|_| {
            fail(format!(
                "tensor names must be strings, got {}",
                k.repr().map_or_else(|_| "?".into(), |r| r.to_string())
            ))
        })?;
        let t = from_numpy(&name, &v)?;
        out.insert(name, t);
    }
    Ok(out)
}

/// `{name: array}` for named tensors.
pub fn dict_of<'py>(
    py: Python<'py>,
    named: impl IntoIterator<Item = (String, Tensor)>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, t) in named {
        d.set_item(name, to_numpy(py, &t)?)?;
    }
    Ok(d)
}

/// The state dict of `params`.
pub fn params_dict<'py>(py: Python<'py>, params: &Params) -> PyResult<Bound<'py, PyDict>> {
    dict_of(py, params.names.iter().cloned().zip(params.tensors.iter().map(|t| t.shallow_clone())))
}

/// A whole state (parameters and BN buffers) of `model`'s architecture from a state dict:
/// every tensor of the model present with its shape, and no other name. `source` names the
/// dict in messages.
pub fn state_from(model: &Model, weights: &Bound<'_, PyDict>, source: &str) -> PyResult<Params> {
    let tensors = tensors_of(weights)?;
    check_state(model, &tensors, source)?;
    let like = Params::state_of(model);
    Params::from_named_like(&like, "", &|n: &str| tensors.get(n).map(|t| t.shallow_clone()))
        .ok_or_else(|| fail(format!("{source} does not hold a whole state of the model")))
}

fn check_state(model: &Model, tensors: &HashMap<String, Tensor>, source: &str) -> PyResult<()> {
    for e in model.entries() {
        let t = tensors
            .get(&e.name)
            .ok_or_else(|| valley_err(valley::Error::MissingTensor { file: source.into(), name: e.name.clone() }))?;
        if t.size() != e.tensor.size() {
            return Err(valley_err(valley::Error::TensorShape {
                file: source.into(),
                name: e.name.clone(),
                found: t.size(),
                expected: e.tensor.size(),
            }));
        }
    }
    let mut extra: Vec<&String> = tensors.keys().filter(|n| model.entry(n).is_none()).collect();
    if !extra.is_empty() {
        extra.sort();
        return Err(fail(format!(
            "architecture mismatch: {source} has tensor `{}` that a {} model does not have ({} tensors expected)",
            extra[0],
            model.config().arch,
            model.entries().len()
        )));
    }
    Ok(())
}
