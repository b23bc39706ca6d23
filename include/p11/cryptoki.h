/*
 * p11 -- PKCS#11 (Cryptoki) header, version 2.40 + 3.0/3.1.
 *
 * This is the only file C code includes.  It applies the platform rules and
 * pulls in the three body files, in order:
 *
 *   pkcs11_base.h        scalar types, info structs, CK_C_xxx function pointer
 *                        types, CK_FUNCTION_LIST, CK_FUNCTION_LIST_3_0,
 *                        CK_INTERFACE
 *   pkcs11_constants.h   every CKA_/CKM_/CKR_/CKF_/CKO_/CKK_/... constant
 *   pkcs11_mechparams.h  mechanism parameter structures (CK_*_PARAMS)
 *
 * The body files are also fed to cffi's ffi.cdef() by native/build_cffi.py,
 * so they hold no preprocessor logic: every platform decision lives here.
 *
 * Structure packing (the PKCS#11 platform rule):
 *   - Windows (_WIN32): Cryptoki structures are packed with 1-byte alignment.
 *     Every module built for Windows uses #pragma pack(push, cryptoki, 1), so
 *     we must too, or every struct after the first non-aligned field (e.g.
 *     CK_INFO after CK_VERSION) would be read at the wrong offsets.  The cffi
 *     build passes pack=1 to ffi.cdef() on Windows for the same reason.
 *   - Linux, macOS and other Unix systems: natural (compiler default)
 *     alignment, as every module built there uses.
 *
 * Function declarations: we declare no C_xxx prototypes.  Modules are loaded
 * at run time (dlopen/LoadLibrary) and called through the function pointers
 * of CK_FUNCTION_LIST / CK_FUNCTION_LIST_3_0 (types CK_C_xxx).
 */
#ifndef P11_CRYPTOKI_H
#define P11_CRYPTOKI_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#pragma pack(push, cryptoki, 1)
#endif

#include "pkcs11_base.h"
#include "pkcs11_constants.h"
#include "pkcs11_mechparams.h"

#if defined(_WIN32)
#pragma pack(pop, cryptoki)
#endif

#ifdef __cplusplus
}
#endif

#endif /* P11_CRYPTOKI_H */
