"""XNNPACK with its int8 kernels for tflite-runtime 2.14.

tflite-runtime 2.14 applies XNNPACK by default to float operators only (its wheel was built
without XNNPACK's int8 flag), so a full-integer model runs on the built-in int8 kernels. Those
round differently from the XNNPACK that ai-edge-litert applies to the same model, which flips
near-tie labels of a deep network (11 of 1,000 rendered garments for the photo model), and they
run 6x slower. The wheel exports XNNPACK's C API, so this module creates the delegate with the
int8 flags set, as ai-edge-litert's default does, for the interpreter to take in place of its
default delegate. Where the library lacks that API, or XNNPACK cannot take the graph (the
shipped MLP and CNN reshape by a computed shape), the interpreter is made as before: that is
what tflite-runtime does itself when its default delegate fails.
"""

from __future__ import annotations

import ctypes
import functools

# TFLITE_XNNPACK_DELEGATE_FLAG_QS8 and _QU8 (xnnpack_delegate.h).
INT8_FLAGS = 0x1 | 0x2


class _Options(ctypes.Structure):
    # TfLiteXNNPackDelegateOptions begins with these fields in every release; the spare bytes
    # hold any later field (left zero: its default) and keep the struct returned through memory.
    _fields_ = [("num_threads", ctypes.c_int32), ("flags", ctypes.c_uint32),
                ("weights_cache", ctypes.c_void_p), ("handle_variable_ops", ctypes.c_bool),
                ("_later_fields", ctypes.c_char * 64)]


class XnnpackDelegate:
    """One XNNPACK delegate, in the shape tflite-runtime's ``experimental_delegates`` takes.

    The interpreter keeps it in its list of delegates and drops that list only after its own
    native half, so the delegate is deleted after the last interpreter that used it.
    """

    def __init__(self, library: ctypes.CDLL, pointer: int):
        self._library = library
        self._pointer = pointer

    def _get_native_delegate_pointer(self) -> int:
        return self._pointer

    def __del__(self):
        self._library.TfLiteXNNPackDelegateDelete(ctypes.c_void_p(self._pointer))


@functools.cache  # once per process: every interpreter made here shares it
def _library() -> ctypes.CDLL | None:
    from tflite_runtime import _pywrap_tensorflow_interpreter_wrapper as wrapper

    try:
        library = ctypes.CDLL(wrapper.__file__)
        library.TfLiteXNNPackDelegateOptionsDefault.restype = _Options
        library.TfLiteXNNPackDelegateCreate.restype = ctypes.c_void_p
        library.TfLiteXNNPackDelegateCreate.argtypes = [ctypes.POINTER(_Options)]
        library.TfLiteXNNPackDelegateDelete.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return library


def _int8_xnnpack_arguments(num_threads: int) -> dict:
    """Keyword arguments for tflite-runtime's ``Interpreter``: an XNNPACK delegate with int8
    enabled instead of the default delegates, or nothing where the library cannot make one."""
    library = _library()
    if library is None:
        return {}
    options = library.TfLiteXNNPackDelegateOptionsDefault()
    options.flags |= INT8_FLAGS
    # As tflite-runtime's own default delegate: no thread pool for a single thread.
    options.num_threads = num_threads if num_threads > 1 else 0
    pointer = library.TfLiteXNNPackDelegateCreate(ctypes.byref(options))
    if not pointer:
        return {}
    from tflite_runtime.interpreter import OpResolverType

    return {"experimental_delegates": [XnnpackDelegate(library, pointer)],
            "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}


def legacy_interpreter(interpreter_class, num_threads: int, **source):
    """A tflite-runtime ``Interpreter`` for ``source`` (``model_path`` or ``model_content``),
    with XNNPACK's int8 kernels where XNNPACK takes the graph."""
    delegates = _int8_xnnpack_arguments(num_threads)
    if delegates:
        try:
            return interpreter_class(**source, **delegates, num_threads=num_threads)
        except RuntimeError:  # XNNPACK refused the graph: the built-in kernels, as before
            pass
    return interpreter_class(**source, num_threads=num_threads)
