# cython: language_level=3
"""The Cython view of ``include/p11/cryptoki.h``: types, structures, every function pointer and the constants.

Everything here is declared ``extern``: Cython emits the names and the C compiler takes types, layouts and values from
our header, so nothing is retyped (the header stays the one source of truth; a wrong field name fails the build).
Every ``CK_C_xxx`` function pointer is ``noexcept nogil``: the hot paths call them with the GIL released. Both function
lists are declared whole, in the header's order, so any concern file (``attributes.pxi``, ``pool.pxi``, ``ops.pxi`` …)
can reach any function through ``CK_FUNCTION_LIST*`` / ``CK_FUNCTION_LIST_3_0*``.

Mechanism parameter structures (``CK_GCM_PARAMS`` …) use the specification's field names; they compile only once
``pkcs11_mechparams.h`` defines them, and Cython emits nothing for a declaration that no code uses.
"""

cdef extern from "p11/cryptoki.h" nogil:
    # ------------------------------------------------------------------------------------------------------------
    # Scalar types
    # ------------------------------------------------------------------------------------------------------------
    ctypedef unsigned char CK_BYTE
    ctypedef CK_BYTE CK_CHAR
    ctypedef CK_BYTE CK_UTF8CHAR
    ctypedef CK_BYTE CK_BBOOL
    ctypedef unsigned long CK_ULONG
    ctypedef long CK_LONG
    ctypedef CK_ULONG CK_FLAGS
    ctypedef CK_BYTE* CK_BYTE_PTR
    ctypedef CK_CHAR* CK_CHAR_PTR
    ctypedef CK_UTF8CHAR* CK_UTF8CHAR_PTR
    ctypedef CK_ULONG* CK_ULONG_PTR
    ctypedef void* CK_VOID_PTR
    ctypedef CK_VOID_PTR* CK_VOID_PTR_PTR

    ctypedef CK_ULONG CK_NOTIFICATION
    ctypedef CK_ULONG CK_SLOT_ID
    ctypedef CK_SLOT_ID* CK_SLOT_ID_PTR
    ctypedef CK_ULONG CK_SESSION_HANDLE
    ctypedef CK_SESSION_HANDLE* CK_SESSION_HANDLE_PTR
    ctypedef CK_ULONG CK_USER_TYPE
    ctypedef CK_ULONG CK_STATE
    ctypedef CK_ULONG CK_OBJECT_HANDLE
    ctypedef CK_OBJECT_HANDLE* CK_OBJECT_HANDLE_PTR
    ctypedef CK_ULONG CK_OBJECT_CLASS
    ctypedef CK_OBJECT_CLASS* CK_OBJECT_CLASS_PTR
    ctypedef CK_ULONG CK_HW_FEATURE_TYPE
    ctypedef CK_ULONG CK_KEY_TYPE
    ctypedef CK_ULONG CK_CERTIFICATE_TYPE
    ctypedef CK_ULONG CK_CERTIFICATE_CATEGORY
    ctypedef CK_ULONG CK_JAVA_MIDP_SECURITY_DOMAIN
    ctypedef CK_ULONG CK_PROFILE_ID
    ctypedef CK_PROFILE_ID* CK_PROFILE_ID_PTR
    ctypedef CK_ULONG CK_ATTRIBUTE_TYPE
    ctypedef CK_ULONG CK_MECHANISM_TYPE
    ctypedef CK_MECHANISM_TYPE* CK_MECHANISM_TYPE_PTR
    ctypedef CK_ULONG CK_RV

    # ------------------------------------------------------------------------------------------------------------
    # Information structures
    # ------------------------------------------------------------------------------------------------------------
    ctypedef struct CK_VERSION:
        CK_BYTE major
        CK_BYTE minor
    ctypedef CK_VERSION* CK_VERSION_PTR

    ctypedef struct CK_INFO:
        CK_VERSION cryptokiVersion
        CK_UTF8CHAR manufacturerID[32]
        CK_FLAGS flags
        CK_UTF8CHAR libraryDescription[32]
        CK_VERSION libraryVersion
    ctypedef CK_INFO* CK_INFO_PTR

    ctypedef struct CK_SLOT_INFO:
        CK_UTF8CHAR slotDescription[64]
        CK_UTF8CHAR manufacturerID[32]
        CK_FLAGS flags
        CK_VERSION hardwareVersion
        CK_VERSION firmwareVersion
    ctypedef CK_SLOT_INFO* CK_SLOT_INFO_PTR

    ctypedef struct CK_TOKEN_INFO:
        CK_UTF8CHAR label[32]
        CK_UTF8CHAR manufacturerID[32]
        CK_UTF8CHAR model[16]
        CK_CHAR serialNumber[16]
        CK_FLAGS flags
        CK_ULONG ulMaxSessionCount
        CK_ULONG ulSessionCount
        CK_ULONG ulMaxRwSessionCount
        CK_ULONG ulRwSessionCount
        CK_ULONG ulMaxPinLen
        CK_ULONG ulMinPinLen
        CK_ULONG ulTotalPublicMemory
        CK_ULONG ulFreePublicMemory
        CK_ULONG ulTotalPrivateMemory
        CK_ULONG ulFreePrivateMemory
        CK_VERSION hardwareVersion
        CK_VERSION firmwareVersion
        CK_CHAR utcTime[16]
    ctypedef CK_TOKEN_INFO* CK_TOKEN_INFO_PTR

    ctypedef struct CK_SESSION_INFO:
        CK_SLOT_ID slotID
        CK_STATE state
        CK_FLAGS flags
        CK_ULONG ulDeviceError
    ctypedef CK_SESSION_INFO* CK_SESSION_INFO_PTR

    # ------------------------------------------------------------------------------------------------------------
    # Attributes, dates, mechanisms
    # ------------------------------------------------------------------------------------------------------------
    ctypedef struct CK_ATTRIBUTE:
        CK_ATTRIBUTE_TYPE type
        CK_VOID_PTR pValue
        CK_ULONG ulValueLen
    ctypedef CK_ATTRIBUTE* CK_ATTRIBUTE_PTR

    ctypedef struct CK_DATE:
        CK_CHAR year[4]
        CK_CHAR month[2]
        CK_CHAR day[2]

    ctypedef struct CK_MECHANISM:
        CK_MECHANISM_TYPE mechanism
        CK_VOID_PTR pParameter
        CK_ULONG ulParameterLen
    ctypedef CK_MECHANISM* CK_MECHANISM_PTR

    ctypedef struct CK_MECHANISM_INFO:
        CK_ULONG ulMinKeySize
        CK_ULONG ulMaxKeySize
        CK_FLAGS flags
    ctypedef CK_MECHANISM_INFO* CK_MECHANISM_INFO_PTR

    # ------------------------------------------------------------------------------------------------------------
    # Callbacks, initialisation arguments, interfaces
    # ------------------------------------------------------------------------------------------------------------
    ctypedef CK_RV (*CK_NOTIFY)(CK_SESSION_HANDLE hSession, CK_NOTIFICATION event,
                                CK_VOID_PTR pApplication) noexcept nogil
    ctypedef CK_RV (*CK_CREATEMUTEX)(CK_VOID_PTR_PTR ppMutex) noexcept nogil
    ctypedef CK_RV (*CK_DESTROYMUTEX)(CK_VOID_PTR pMutex) noexcept nogil
    ctypedef CK_RV (*CK_LOCKMUTEX)(CK_VOID_PTR pMutex) noexcept nogil
    ctypedef CK_RV (*CK_UNLOCKMUTEX)(CK_VOID_PTR pMutex) noexcept nogil

    ctypedef struct CK_C_INITIALIZE_ARGS:
        CK_CREATEMUTEX CreateMutex
        CK_DESTROYMUTEX DestroyMutex
        CK_LOCKMUTEX LockMutex
        CK_UNLOCKMUTEX UnlockMutex
        CK_FLAGS flags
        CK_VOID_PTR pReserved
    ctypedef CK_C_INITIALIZE_ARGS* CK_C_INITIALIZE_ARGS_PTR

    cdef struct CK_FUNCTION_LIST
    ctypedef CK_FUNCTION_LIST* CK_FUNCTION_LIST_PTR
    ctypedef CK_FUNCTION_LIST_PTR* CK_FUNCTION_LIST_PTR_PTR
    cdef struct CK_FUNCTION_LIST_3_0
    ctypedef CK_FUNCTION_LIST_3_0* CK_FUNCTION_LIST_3_0_PTR
    ctypedef CK_FUNCTION_LIST_3_0_PTR* CK_FUNCTION_LIST_3_0_PTR_PTR

    ctypedef struct CK_INTERFACE:
        CK_CHAR* pInterfaceName
        CK_VOID_PTR pFunctionList
        CK_FLAGS flags
    ctypedef CK_INTERFACE* CK_INTERFACE_PTR
    ctypedef CK_INTERFACE_PTR* CK_INTERFACE_PTR_PTR

    # ------------------------------------------------------------------------------------------------------------
    # Function pointer types (2.40, then 3.0), in the header's order
    # ------------------------------------------------------------------------------------------------------------
    ctypedef CK_RV (*CK_C_Initialize)(CK_VOID_PTR pInitArgs) noexcept nogil
    ctypedef CK_RV (*CK_C_Finalize)(CK_VOID_PTR pReserved) noexcept nogil
    ctypedef CK_RV (*CK_C_GetInfo)(CK_INFO_PTR pInfo) noexcept nogil
    ctypedef CK_RV (*CK_C_GetFunctionList)(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) noexcept nogil
    ctypedef CK_RV (*CK_C_GetSlotList)(CK_BBOOL tokenPresent,
                                       CK_SLOT_ID_PTR pSlotList,
                                       CK_ULONG_PTR pulCount) noexcept nogil
    ctypedef CK_RV (*CK_C_GetSlotInfo)(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo) noexcept nogil
    ctypedef CK_RV (*CK_C_GetTokenInfo)(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo) noexcept nogil
    ctypedef CK_RV (*CK_C_GetMechanismList)(CK_SLOT_ID slotID,
                                            CK_MECHANISM_TYPE_PTR pMechanismList,
                                            CK_ULONG_PTR pulCount) noexcept nogil
    ctypedef CK_RV (*CK_C_GetMechanismInfo)(CK_SLOT_ID slotID,
                                            CK_MECHANISM_TYPE type,
                                            CK_MECHANISM_INFO_PTR pInfo) noexcept nogil
    ctypedef CK_RV (*CK_C_InitToken)(CK_SLOT_ID slotID,
                                     CK_UTF8CHAR_PTR pPin,
                                     CK_ULONG ulPinLen,
                                     CK_UTF8CHAR_PTR pLabel) noexcept nogil
    ctypedef CK_RV (*CK_C_InitPIN)(CK_SESSION_HANDLE hSession,
                                   CK_UTF8CHAR_PTR pPin,
                                   CK_ULONG ulPinLen) noexcept nogil
    ctypedef CK_RV (*CK_C_SetPIN)(CK_SESSION_HANDLE hSession,
                                  CK_UTF8CHAR_PTR pOldPin,
                                  CK_ULONG ulOldLen,
                                  CK_UTF8CHAR_PTR pNewPin,
                                  CK_ULONG ulNewLen) noexcept nogil
    ctypedef CK_RV (*CK_C_OpenSession)(CK_SLOT_ID slotID,
                                       CK_FLAGS flags,
                                       CK_VOID_PTR pApplication,
                                       CK_NOTIFY Notify,
                                       CK_SESSION_HANDLE_PTR phSession) noexcept nogil
    ctypedef CK_RV (*CK_C_CloseSession)(CK_SESSION_HANDLE hSession) noexcept nogil
    ctypedef CK_RV (*CK_C_CloseAllSessions)(CK_SLOT_ID slotID) noexcept nogil
    ctypedef CK_RV (*CK_C_GetSessionInfo)(CK_SESSION_HANDLE hSession,
                                          CK_SESSION_INFO_PTR pInfo) noexcept nogil
    ctypedef CK_RV (*CK_C_GetOperationState)(CK_SESSION_HANDLE hSession,
                                             CK_BYTE_PTR pOperationState,
                                             CK_ULONG_PTR pulOperationStateLen) noexcept nogil
    ctypedef CK_RV (*CK_C_SetOperationState)(CK_SESSION_HANDLE hSession,
                                             CK_BYTE_PTR pOperationState,
                                             CK_ULONG ulOperationStateLen,
                                             CK_OBJECT_HANDLE hEncryptionKey,
                                             CK_OBJECT_HANDLE hAuthenticationKey) noexcept nogil
    ctypedef CK_RV (*CK_C_Login)(CK_SESSION_HANDLE hSession,
                                 CK_USER_TYPE userType,
                                 CK_UTF8CHAR_PTR pPin,
                                 CK_ULONG ulPinLen) noexcept nogil
    ctypedef CK_RV (*CK_C_Logout)(CK_SESSION_HANDLE hSession) noexcept nogil
    ctypedef CK_RV (*CK_C_CreateObject)(CK_SESSION_HANDLE hSession,
                                        CK_ATTRIBUTE_PTR pTemplate,
                                        CK_ULONG ulCount,
                                        CK_OBJECT_HANDLE_PTR phObject) noexcept nogil
    ctypedef CK_RV (*CK_C_CopyObject)(CK_SESSION_HANDLE hSession,
                                      CK_OBJECT_HANDLE hObject,
                                      CK_ATTRIBUTE_PTR pTemplate,
                                      CK_ULONG ulCount,
                                      CK_OBJECT_HANDLE_PTR phNewObject) noexcept nogil
    ctypedef CK_RV (*CK_C_DestroyObject)(CK_SESSION_HANDLE hSession,
                                         CK_OBJECT_HANDLE hObject) noexcept nogil
    ctypedef CK_RV (*CK_C_GetObjectSize)(CK_SESSION_HANDLE hSession,
                                         CK_OBJECT_HANDLE hObject,
                                         CK_ULONG_PTR pulSize) noexcept nogil
    ctypedef CK_RV (*CK_C_GetAttributeValue)(CK_SESSION_HANDLE hSession,
                                             CK_OBJECT_HANDLE hObject,
                                             CK_ATTRIBUTE_PTR pTemplate,
                                             CK_ULONG ulCount) noexcept nogil
    ctypedef CK_RV (*CK_C_SetAttributeValue)(CK_SESSION_HANDLE hSession,
                                             CK_OBJECT_HANDLE hObject,
                                             CK_ATTRIBUTE_PTR pTemplate,
                                             CK_ULONG ulCount) noexcept nogil
    ctypedef CK_RV (*CK_C_FindObjectsInit)(CK_SESSION_HANDLE hSession,
                                           CK_ATTRIBUTE_PTR pTemplate,
                                           CK_ULONG ulCount) noexcept nogil
    ctypedef CK_RV (*CK_C_FindObjects)(CK_SESSION_HANDLE hSession,
                                       CK_OBJECT_HANDLE_PTR phObject,
                                       CK_ULONG ulMaxObjectCount,
                                       CK_ULONG_PTR pulObjectCount) noexcept nogil
    ctypedef CK_RV (*CK_C_FindObjectsFinal)(CK_SESSION_HANDLE hSession) noexcept nogil
    ctypedef CK_RV (*CK_C_EncryptInit)(CK_SESSION_HANDLE hSession,
                                       CK_MECHANISM_PTR pMechanism,
                                       CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_Encrypt)(CK_SESSION_HANDLE hSession,
                                   CK_BYTE_PTR pData,
                                   CK_ULONG ulDataLen,
                                   CK_BYTE_PTR pEncryptedData,
                                   CK_ULONG_PTR pulEncryptedDataLen) noexcept nogil
    ctypedef CK_RV (*CK_C_EncryptUpdate)(CK_SESSION_HANDLE hSession,
                                         CK_BYTE_PTR pPart,
                                         CK_ULONG ulPartLen,
                                         CK_BYTE_PTR pEncryptedPart,
                                         CK_ULONG_PTR pulEncryptedPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_EncryptFinal)(CK_SESSION_HANDLE hSession,
                                        CK_BYTE_PTR pLastEncryptedPart,
                                        CK_ULONG_PTR pulLastEncryptedPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DecryptInit)(CK_SESSION_HANDLE hSession,
                                       CK_MECHANISM_PTR pMechanism,
                                       CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_Decrypt)(CK_SESSION_HANDLE hSession,
                                   CK_BYTE_PTR pEncryptedData,
                                   CK_ULONG ulEncryptedDataLen,
                                   CK_BYTE_PTR pData,
                                   CK_ULONG_PTR pulDataLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DecryptUpdate)(CK_SESSION_HANDLE hSession,
                                         CK_BYTE_PTR pEncryptedPart,
                                         CK_ULONG ulEncryptedPartLen,
                                         CK_BYTE_PTR pPart,
                                         CK_ULONG_PTR pulPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DecryptFinal)(CK_SESSION_HANDLE hSession,
                                        CK_BYTE_PTR pLastPart,
                                        CK_ULONG_PTR pulLastPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DigestInit)(CK_SESSION_HANDLE hSession,
                                      CK_MECHANISM_PTR pMechanism) noexcept nogil
    ctypedef CK_RV (*CK_C_Digest)(CK_SESSION_HANDLE hSession,
                                  CK_BYTE_PTR pData,
                                  CK_ULONG ulDataLen,
                                  CK_BYTE_PTR pDigest,
                                  CK_ULONG_PTR pulDigestLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DigestUpdate)(CK_SESSION_HANDLE hSession,
                                        CK_BYTE_PTR pPart,
                                        CK_ULONG ulPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DigestKey)(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_DigestFinal)(CK_SESSION_HANDLE hSession,
                                       CK_BYTE_PTR pDigest,
                                       CK_ULONG_PTR pulDigestLen) noexcept nogil
    ctypedef CK_RV (*CK_C_SignInit)(CK_SESSION_HANDLE hSession,
                                    CK_MECHANISM_PTR pMechanism,
                                    CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_Sign)(CK_SESSION_HANDLE hSession,
                                CK_BYTE_PTR pData,
                                CK_ULONG ulDataLen,
                                CK_BYTE_PTR pSignature,
                                CK_ULONG_PTR pulSignatureLen) noexcept nogil
    ctypedef CK_RV (*CK_C_SignUpdate)(CK_SESSION_HANDLE hSession,
                                      CK_BYTE_PTR pPart,
                                      CK_ULONG ulPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_SignFinal)(CK_SESSION_HANDLE hSession,
                                     CK_BYTE_PTR pSignature,
                                     CK_ULONG_PTR pulSignatureLen) noexcept nogil
    ctypedef CK_RV (*CK_C_SignRecoverInit)(CK_SESSION_HANDLE hSession,
                                           CK_MECHANISM_PTR pMechanism,
                                           CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_SignRecover)(CK_SESSION_HANDLE hSession,
                                       CK_BYTE_PTR pData,
                                       CK_ULONG ulDataLen,
                                       CK_BYTE_PTR pSignature,
                                       CK_ULONG_PTR pulSignatureLen) noexcept nogil
    ctypedef CK_RV (*CK_C_VerifyInit)(CK_SESSION_HANDLE hSession,
                                      CK_MECHANISM_PTR pMechanism,
                                      CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_Verify)(CK_SESSION_HANDLE hSession,
                                  CK_BYTE_PTR pData,
                                  CK_ULONG ulDataLen,
                                  CK_BYTE_PTR pSignature,
                                  CK_ULONG ulSignatureLen) noexcept nogil
    ctypedef CK_RV (*CK_C_VerifyUpdate)(CK_SESSION_HANDLE hSession,
                                        CK_BYTE_PTR pPart,
                                        CK_ULONG ulPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_VerifyFinal)(CK_SESSION_HANDLE hSession,
                                       CK_BYTE_PTR pSignature,
                                       CK_ULONG ulSignatureLen) noexcept nogil
    ctypedef CK_RV (*CK_C_VerifyRecoverInit)(CK_SESSION_HANDLE hSession,
                                             CK_MECHANISM_PTR pMechanism,
                                             CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_VerifyRecover)(CK_SESSION_HANDLE hSession,
                                         CK_BYTE_PTR pSignature,
                                         CK_ULONG ulSignatureLen,
                                         CK_BYTE_PTR pData,
                                         CK_ULONG_PTR pulDataLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DigestEncryptUpdate)(CK_SESSION_HANDLE hSession,
                                               CK_BYTE_PTR pPart,
                                               CK_ULONG ulPartLen,
                                               CK_BYTE_PTR pEncryptedPart,
                                               CK_ULONG_PTR pulEncryptedPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DecryptDigestUpdate)(CK_SESSION_HANDLE hSession,
                                               CK_BYTE_PTR pEncryptedPart,
                                               CK_ULONG ulEncryptedPartLen,
                                               CK_BYTE_PTR pPart,
                                               CK_ULONG_PTR pulPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_SignEncryptUpdate)(CK_SESSION_HANDLE hSession,
                                             CK_BYTE_PTR pPart,
                                             CK_ULONG ulPartLen,
                                             CK_BYTE_PTR pEncryptedPart,
                                             CK_ULONG_PTR pulEncryptedPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DecryptVerifyUpdate)(CK_SESSION_HANDLE hSession,
                                               CK_BYTE_PTR pEncryptedPart,
                                               CK_ULONG ulEncryptedPartLen,
                                               CK_BYTE_PTR pPart,
                                               CK_ULONG_PTR pulPartLen) noexcept nogil
    ctypedef CK_RV (*CK_C_GenerateKey)(CK_SESSION_HANDLE hSession,
                                       CK_MECHANISM_PTR pMechanism,
                                       CK_ATTRIBUTE_PTR pTemplate,
                                       CK_ULONG ulCount,
                                       CK_OBJECT_HANDLE_PTR phKey) noexcept nogil
    ctypedef CK_RV (*CK_C_GenerateKeyPair)(CK_SESSION_HANDLE hSession,
                                           CK_MECHANISM_PTR pMechanism,
                                           CK_ATTRIBUTE_PTR pPublicKeyTemplate,
                                           CK_ULONG ulPublicKeyAttributeCount,
                                           CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
                                           CK_ULONG ulPrivateKeyAttributeCount,
                                           CK_OBJECT_HANDLE_PTR phPublicKey,
                                           CK_OBJECT_HANDLE_PTR phPrivateKey) noexcept nogil
    ctypedef CK_RV (*CK_C_WrapKey)(CK_SESSION_HANDLE hSession,
                                   CK_MECHANISM_PTR pMechanism,
                                   CK_OBJECT_HANDLE hWrappingKey,
                                   CK_OBJECT_HANDLE hKey,
                                   CK_BYTE_PTR pWrappedKey,
                                   CK_ULONG_PTR pulWrappedKeyLen) noexcept nogil
    ctypedef CK_RV (*CK_C_UnwrapKey)(CK_SESSION_HANDLE hSession,
                                     CK_MECHANISM_PTR pMechanism,
                                     CK_OBJECT_HANDLE hUnwrappingKey,
                                     CK_BYTE_PTR pWrappedKey,
                                     CK_ULONG ulWrappedKeyLen,
                                     CK_ATTRIBUTE_PTR pTemplate,
                                     CK_ULONG ulAttributeCount,
                                     CK_OBJECT_HANDLE_PTR phKey) noexcept nogil
    ctypedef CK_RV (*CK_C_DeriveKey)(CK_SESSION_HANDLE hSession,
                                     CK_MECHANISM_PTR pMechanism,
                                     CK_OBJECT_HANDLE hBaseKey,
                                     CK_ATTRIBUTE_PTR pTemplate,
                                     CK_ULONG ulAttributeCount,
                                     CK_OBJECT_HANDLE_PTR phKey) noexcept nogil
    ctypedef CK_RV (*CK_C_SeedRandom)(CK_SESSION_HANDLE hSession,
                                      CK_BYTE_PTR pSeed,
                                      CK_ULONG ulSeedLen) noexcept nogil
    ctypedef CK_RV (*CK_C_GenerateRandom)(CK_SESSION_HANDLE hSession,
                                          CK_BYTE_PTR RandomData,
                                          CK_ULONG ulRandomLen) noexcept nogil
    ctypedef CK_RV (*CK_C_GetFunctionStatus)(CK_SESSION_HANDLE hSession) noexcept nogil
    ctypedef CK_RV (*CK_C_CancelFunction)(CK_SESSION_HANDLE hSession) noexcept nogil
    ctypedef CK_RV (*CK_C_WaitForSlotEvent)(CK_FLAGS flags,
                                            CK_SLOT_ID_PTR pSlot,
                                            CK_VOID_PTR pReserved) noexcept nogil
    ctypedef CK_RV (*CK_C_GetInterfaceList)(CK_INTERFACE_PTR pInterfacesList,
                                            CK_ULONG_PTR pulCount) noexcept nogil
    ctypedef CK_RV (*CK_C_GetInterface)(CK_UTF8CHAR_PTR pInterfaceName,
                                        CK_VERSION_PTR pVersion,
                                        CK_INTERFACE_PTR_PTR ppInterface,
                                        CK_FLAGS flags) noexcept nogil
    ctypedef CK_RV (*CK_C_LoginUser)(CK_SESSION_HANDLE hSession,
                                     CK_USER_TYPE userType,
                                     CK_UTF8CHAR_PTR pPin,
                                     CK_ULONG ulPinLen,
                                     CK_UTF8CHAR_PTR pUsername,
                                     CK_ULONG ulUsernameLen) noexcept nogil
    ctypedef CK_RV (*CK_C_SessionCancel)(CK_SESSION_HANDLE hSession, CK_FLAGS flags) noexcept nogil
    ctypedef CK_RV (*CK_C_MessageEncryptInit)(CK_SESSION_HANDLE hSession,
                                              CK_MECHANISM_PTR pMechanism,
                                              CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_EncryptMessage)(CK_SESSION_HANDLE hSession,
                                          CK_VOID_PTR pParameter,
                                          CK_ULONG ulParameterLen,
                                          CK_BYTE_PTR pAssociatedData,
                                          CK_ULONG ulAssociatedDataLen,
                                          CK_BYTE_PTR pPlaintext,
                                          CK_ULONG ulPlaintextLen,
                                          CK_BYTE_PTR pCiphertext,
                                          CK_ULONG_PTR pulCiphertextLen) noexcept nogil
    ctypedef CK_RV (*CK_C_EncryptMessageBegin)(CK_SESSION_HANDLE hSession,
                                               CK_VOID_PTR pParameter,
                                               CK_ULONG ulParameterLen,
                                               CK_BYTE_PTR pAssociatedData,
                                               CK_ULONG ulAssociatedDataLen) noexcept nogil
    ctypedef CK_RV (*CK_C_EncryptMessageNext)(CK_SESSION_HANDLE hSession,
                                              CK_VOID_PTR pParameter,
                                              CK_ULONG ulParameterLen,
                                              CK_BYTE_PTR pPlaintextPart,
                                              CK_ULONG ulPlaintextPartLen,
                                              CK_BYTE_PTR pCiphertextPart,
                                              CK_ULONG_PTR pulCiphertextPartLen,
                                              CK_FLAGS flags) noexcept nogil
    ctypedef CK_RV (*CK_C_MessageEncryptFinal)(CK_SESSION_HANDLE hSession) noexcept nogil
    ctypedef CK_RV (*CK_C_MessageDecryptInit)(CK_SESSION_HANDLE hSession,
                                              CK_MECHANISM_PTR pMechanism,
                                              CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_DecryptMessage)(CK_SESSION_HANDLE hSession,
                                          CK_VOID_PTR pParameter,
                                          CK_ULONG ulParameterLen,
                                          CK_BYTE_PTR pAssociatedData,
                                          CK_ULONG ulAssociatedDataLen,
                                          CK_BYTE_PTR pCiphertext,
                                          CK_ULONG ulCiphertextLen,
                                          CK_BYTE_PTR pPlaintext,
                                          CK_ULONG_PTR pulPlaintextLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DecryptMessageBegin)(CK_SESSION_HANDLE hSession,
                                               CK_VOID_PTR pParameter,
                                               CK_ULONG ulParameterLen,
                                               CK_BYTE_PTR pAssociatedData,
                                               CK_ULONG ulAssociatedDataLen) noexcept nogil
    ctypedef CK_RV (*CK_C_DecryptMessageNext)(CK_SESSION_HANDLE hSession,
                                              CK_VOID_PTR pParameter,
                                              CK_ULONG ulParameterLen,
                                              CK_BYTE_PTR pCiphertextPart,
                                              CK_ULONG ulCiphertextPartLen,
                                              CK_BYTE_PTR pPlaintextPart,
                                              CK_ULONG_PTR pulPlaintextPartLen,
                                              CK_FLAGS flags) noexcept nogil
    ctypedef CK_RV (*CK_C_MessageDecryptFinal)(CK_SESSION_HANDLE hSession) noexcept nogil
    ctypedef CK_RV (*CK_C_MessageSignInit)(CK_SESSION_HANDLE hSession,
                                           CK_MECHANISM_PTR pMechanism,
                                           CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_SignMessage)(CK_SESSION_HANDLE hSession,
                                       CK_VOID_PTR pParameter,
                                       CK_ULONG ulParameterLen,
                                       CK_BYTE_PTR pData,
                                       CK_ULONG ulDataLen,
                                       CK_BYTE_PTR pSignature,
                                       CK_ULONG_PTR pulSignatureLen) noexcept nogil
    ctypedef CK_RV (*CK_C_SignMessageBegin)(CK_SESSION_HANDLE hSession,
                                            CK_VOID_PTR pParameter,
                                            CK_ULONG ulParameterLen) noexcept nogil
    ctypedef CK_RV (*CK_C_SignMessageNext)(CK_SESSION_HANDLE hSession,
                                           CK_VOID_PTR pParameter,
                                           CK_ULONG ulParameterLen,
                                           CK_BYTE_PTR pData,
                                           CK_ULONG ulDataLen,
                                           CK_BYTE_PTR pSignature,
                                           CK_ULONG_PTR pulSignatureLen) noexcept nogil
    ctypedef CK_RV (*CK_C_MessageSignFinal)(CK_SESSION_HANDLE hSession) noexcept nogil
    ctypedef CK_RV (*CK_C_MessageVerifyInit)(CK_SESSION_HANDLE hSession,
                                             CK_MECHANISM_PTR pMechanism,
                                             CK_OBJECT_HANDLE hKey) noexcept nogil
    ctypedef CK_RV (*CK_C_VerifyMessage)(CK_SESSION_HANDLE hSession,
                                         CK_VOID_PTR pParameter,
                                         CK_ULONG ulParameterLen,
                                         CK_BYTE_PTR pData,
                                         CK_ULONG ulDataLen,
                                         CK_BYTE_PTR pSignature,
                                         CK_ULONG ulSignatureLen) noexcept nogil
    ctypedef CK_RV (*CK_C_VerifyMessageBegin)(CK_SESSION_HANDLE hSession,
                                              CK_VOID_PTR pParameter,
                                              CK_ULONG ulParameterLen) noexcept nogil
    ctypedef CK_RV (*CK_C_VerifyMessageNext)(CK_SESSION_HANDLE hSession,
                                             CK_VOID_PTR pParameter,
                                             CK_ULONG ulParameterLen,
                                             CK_BYTE_PTR pData,
                                             CK_ULONG ulDataLen,
                                             CK_BYTE_PTR pSignature,
                                             CK_ULONG ulSignatureLen) noexcept nogil
    ctypedef CK_RV (*CK_C_MessageVerifyFinal)(CK_SESSION_HANDLE hSession) noexcept nogil

    # ------------------------------------------------------------------------------------------------------------
    # The function lists: 2.40 order, and the 3.0 list whose first 68 entries are the same
    # ------------------------------------------------------------------------------------------------------------
    cdef struct CK_FUNCTION_LIST:
        CK_VERSION version
        CK_C_Initialize C_Initialize
        CK_C_Finalize C_Finalize
        CK_C_GetInfo C_GetInfo
        CK_C_GetFunctionList C_GetFunctionList
        CK_C_GetSlotList C_GetSlotList
        CK_C_GetSlotInfo C_GetSlotInfo
        CK_C_GetTokenInfo C_GetTokenInfo
        CK_C_GetMechanismList C_GetMechanismList
        CK_C_GetMechanismInfo C_GetMechanismInfo
        CK_C_InitToken C_InitToken
        CK_C_InitPIN C_InitPIN
        CK_C_SetPIN C_SetPIN
        CK_C_OpenSession C_OpenSession
        CK_C_CloseSession C_CloseSession
        CK_C_CloseAllSessions C_CloseAllSessions
        CK_C_GetSessionInfo C_GetSessionInfo
        CK_C_GetOperationState C_GetOperationState
        CK_C_SetOperationState C_SetOperationState
        CK_C_Login C_Login
        CK_C_Logout C_Logout
        CK_C_CreateObject C_CreateObject
        CK_C_CopyObject C_CopyObject
        CK_C_DestroyObject C_DestroyObject
        CK_C_GetObjectSize C_GetObjectSize
        CK_C_GetAttributeValue C_GetAttributeValue
        CK_C_SetAttributeValue C_SetAttributeValue
        CK_C_FindObjectsInit C_FindObjectsInit
        CK_C_FindObjects C_FindObjects
        CK_C_FindObjectsFinal C_FindObjectsFinal
        CK_C_EncryptInit C_EncryptInit
        CK_C_Encrypt C_Encrypt
        CK_C_EncryptUpdate C_EncryptUpdate
        CK_C_EncryptFinal C_EncryptFinal
        CK_C_DecryptInit C_DecryptInit
        CK_C_Decrypt C_Decrypt
        CK_C_DecryptUpdate C_DecryptUpdate
        CK_C_DecryptFinal C_DecryptFinal
        CK_C_DigestInit C_DigestInit
        CK_C_Digest C_Digest
        CK_C_DigestUpdate C_DigestUpdate
        CK_C_DigestKey C_DigestKey
        CK_C_DigestFinal C_DigestFinal
        CK_C_SignInit C_SignInit
        CK_C_Sign C_Sign
        CK_C_SignUpdate C_SignUpdate
        CK_C_SignFinal C_SignFinal
        CK_C_SignRecoverInit C_SignRecoverInit
        CK_C_SignRecover C_SignRecover
        CK_C_VerifyInit C_VerifyInit
        CK_C_Verify C_Verify
        CK_C_VerifyUpdate C_VerifyUpdate
        CK_C_VerifyFinal C_VerifyFinal
        CK_C_VerifyRecoverInit C_VerifyRecoverInit
        CK_C_VerifyRecover C_VerifyRecover
        CK_C_DigestEncryptUpdate C_DigestEncryptUpdate
        CK_C_DecryptDigestUpdate C_DecryptDigestUpdate
        CK_C_SignEncryptUpdate C_SignEncryptUpdate
        CK_C_DecryptVerifyUpdate C_DecryptVerifyUpdate
        CK_C_GenerateKey C_GenerateKey
        CK_C_GenerateKeyPair C_GenerateKeyPair
        CK_C_WrapKey C_WrapKey
        CK_C_UnwrapKey C_UnwrapKey
        CK_C_DeriveKey C_DeriveKey
        CK_C_SeedRandom C_SeedRandom
        CK_C_GenerateRandom C_GenerateRandom
        CK_C_GetFunctionStatus C_GetFunctionStatus
        CK_C_CancelFunction C_CancelFunction
        CK_C_WaitForSlotEvent C_WaitForSlotEvent

    cdef struct CK_FUNCTION_LIST_3_0:
        CK_VERSION version
        CK_C_Initialize C_Initialize
        CK_C_Finalize C_Finalize
        CK_C_GetInfo C_GetInfo
        CK_C_GetFunctionList C_GetFunctionList
        CK_C_GetSlotList C_GetSlotList
        CK_C_GetSlotInfo C_GetSlotInfo
        CK_C_GetTokenInfo C_GetTokenInfo
        CK_C_GetMechanismList C_GetMechanismList
        CK_C_GetMechanismInfo C_GetMechanismInfo
        CK_C_InitToken C_InitToken
        CK_C_InitPIN C_InitPIN
        CK_C_SetPIN C_SetPIN
        CK_C_OpenSession C_OpenSession
        CK_C_CloseSession C_CloseSession
        CK_C_CloseAllSessions C_CloseAllSessions
        CK_C_GetSessionInfo C_GetSessionInfo
        CK_C_GetOperationState C_GetOperationState
        CK_C_SetOperationState C_SetOperationState
        CK_C_Login C_Login
        CK_C_Logout C_Logout
        CK_C_CreateObject C_CreateObject
        CK_C_CopyObject C_CopyObject
        CK_C_DestroyObject C_DestroyObject
        CK_C_GetObjectSize C_GetObjectSize
        CK_C_GetAttributeValue C_GetAttributeValue
        CK_C_SetAttributeValue C_SetAttributeValue
        CK_C_FindObjectsInit C_FindObjectsInit
        CK_C_FindObjects C_FindObjects
        CK_C_FindObjectsFinal C_FindObjectsFinal
        CK_C_EncryptInit C_EncryptInit
        CK_C_Encrypt C_Encrypt
        CK_C_EncryptUpdate C_EncryptUpdate
        CK_C_EncryptFinal C_EncryptFinal
        CK_C_DecryptInit C_DecryptInit
        CK_C_Decrypt C_Decrypt
        CK_C_DecryptUpdate C_DecryptUpdate
        CK_C_DecryptFinal C_DecryptFinal
        CK_C_DigestInit C_DigestInit
        CK_C_Digest C_Digest
        CK_C_DigestUpdate C_DigestUpdate
        CK_C_DigestKey C_DigestKey
        CK_C_DigestFinal C_DigestFinal
        CK_C_SignInit C_SignInit
        CK_C_Sign C_Sign
        CK_C_SignUpdate C_SignUpdate
        CK_C_SignFinal C_SignFinal
        CK_C_SignRecoverInit C_SignRecoverInit
        CK_C_SignRecover C_SignRecover
        CK_C_VerifyInit C_VerifyInit
        CK_C_Verify C_Verify
        CK_C_VerifyUpdate C_VerifyUpdate
        CK_C_VerifyFinal C_VerifyFinal
        CK_C_VerifyRecoverInit C_VerifyRecoverInit
        CK_C_VerifyRecover C_VerifyRecover
        CK_C_DigestEncryptUpdate C_DigestEncryptUpdate
        CK_C_DecryptDigestUpdate C_DecryptDigestUpdate
        CK_C_SignEncryptUpdate C_SignEncryptUpdate
        CK_C_DecryptVerifyUpdate C_DecryptVerifyUpdate
        CK_C_GenerateKey C_GenerateKey
        CK_C_GenerateKeyPair C_GenerateKeyPair
        CK_C_WrapKey C_WrapKey
        CK_C_UnwrapKey C_UnwrapKey
        CK_C_DeriveKey C_DeriveKey
        CK_C_SeedRandom C_SeedRandom
        CK_C_GenerateRandom C_GenerateRandom
        CK_C_GetFunctionStatus C_GetFunctionStatus
        CK_C_CancelFunction C_CancelFunction
        CK_C_WaitForSlotEvent C_WaitForSlotEvent
        CK_C_GetInterfaceList C_GetInterfaceList
        CK_C_GetInterface C_GetInterface
        CK_C_LoginUser C_LoginUser
        CK_C_SessionCancel C_SessionCancel
        CK_C_MessageEncryptInit C_MessageEncryptInit
        CK_C_EncryptMessage C_EncryptMessage
        CK_C_EncryptMessageBegin C_EncryptMessageBegin
        CK_C_EncryptMessageNext C_EncryptMessageNext
        CK_C_MessageEncryptFinal C_MessageEncryptFinal
        CK_C_MessageDecryptInit C_MessageDecryptInit
        CK_C_DecryptMessage C_DecryptMessage
        CK_C_DecryptMessageBegin C_DecryptMessageBegin
        CK_C_DecryptMessageNext C_DecryptMessageNext
        CK_C_MessageDecryptFinal C_MessageDecryptFinal
        CK_C_MessageSignInit C_MessageSignInit
        CK_C_SignMessage C_SignMessage
        CK_C_SignMessageBegin C_SignMessageBegin
        CK_C_SignMessageNext C_SignMessageNext
        CK_C_MessageSignFinal C_MessageSignFinal
        CK_C_MessageVerifyInit C_MessageVerifyInit
        CK_C_VerifyMessage C_VerifyMessage
        CK_C_VerifyMessageBegin C_VerifyMessageBegin
        CK_C_VerifyMessageNext C_VerifyMessageNext
        CK_C_MessageVerifyFinal C_MessageVerifyFinal

    # ------------------------------------------------------------------------------------------------------------
    # Mechanism parameter structures most hot paths use (specification field names)
    # ------------------------------------------------------------------------------------------------------------
    ctypedef CK_ULONG CK_RSA_PKCS_MGF_TYPE
    ctypedef CK_ULONG CK_RSA_PKCS_OAEP_SOURCE_TYPE
    ctypedef CK_ULONG CK_EC_KDF_TYPE
    ctypedef CK_ULONG CK_MAC_GENERAL_PARAMS
    ctypedef CK_ULONG CK_GENERATOR_FUNCTION

    ctypedef struct CK_RSA_PKCS_PSS_PARAMS:
        CK_MECHANISM_TYPE hashAlg
        CK_RSA_PKCS_MGF_TYPE mgf
        CK_ULONG sLen

    ctypedef struct CK_RSA_PKCS_OAEP_PARAMS:
        CK_MECHANISM_TYPE hashAlg
        CK_RSA_PKCS_MGF_TYPE mgf
        CK_RSA_PKCS_OAEP_SOURCE_TYPE source
        CK_VOID_PTR pSourceData
        CK_ULONG ulSourceDataLen

    ctypedef struct CK_GCM_PARAMS:
        CK_BYTE_PTR pIv
        CK_ULONG ulIvLen
        CK_ULONG ulIvBits
        CK_BYTE_PTR pAAD
        CK_ULONG ulAADLen
        CK_ULONG ulTagBits

    ctypedef struct CK_GCM_MESSAGE_PARAMS:
        CK_BYTE_PTR pIv
        CK_ULONG ulIvLen
        CK_ULONG ulIvFixedBits
        CK_GENERATOR_FUNCTION ivGenerator
        CK_BYTE_PTR pTag
        CK_ULONG ulTagBits

    ctypedef struct CK_CCM_PARAMS:
        CK_ULONG ulDataLen
        CK_BYTE_PTR pNonce
        CK_ULONG ulNonceLen
        CK_BYTE_PTR pAAD
        CK_ULONG ulAADLen
        CK_ULONG ulMACLen

    ctypedef struct CK_AES_CTR_PARAMS:
        CK_ULONG ulCounterBits
        CK_BYTE cb[16]

    ctypedef struct CK_AES_CBC_ENCRYPT_DATA_PARAMS:
        CK_BYTE iv[16]
        CK_BYTE_PTR pData
        CK_ULONG length

    ctypedef struct CK_ECDH1_DERIVE_PARAMS:
        CK_EC_KDF_TYPE kdf
        CK_ULONG ulSharedDataLen
        CK_BYTE_PTR pSharedData
        CK_ULONG ulPublicDataLen
        CK_BYTE_PTR pPublicData

    ctypedef struct CK_EDDSA_PARAMS:
        CK_BBOOL phFlag
        CK_ULONG ulContextDataLen
        CK_BYTE_PTR pContextData

    ctypedef struct CK_KEY_DERIVATION_STRING_DATA:
        CK_BYTE_PTR pData
        CK_ULONG ulLen

    ctypedef struct CK_HKDF_PARAMS:
        CK_BBOOL bExtract
        CK_BBOOL bExpand
        CK_MECHANISM_TYPE prfHashMechanism
        CK_ULONG ulSaltType
        CK_BYTE_PTR pSalt
        CK_ULONG ulSaltLen
        CK_OBJECT_HANDLE hSaltKey
        CK_BYTE_PTR pInfo
        CK_ULONG ulInfoLen

    # ------------------------------------------------------------------------------------------------------------
    # Constants: names only; the values are the header's. CK_TRUE/CK_FALSE and the header version are plain ints.
    # ------------------------------------------------------------------------------------------------------------
    enum:
        CK_TRUE
        CK_FALSE
        CRYPTOKI_VERSION_MAJOR
        CRYPTOKI_VERSION_MINOR
        CRYPTOKI_VERSION_AMENDMENT

    const CK_ULONG CK_UNAVAILABLE_INFORMATION, CK_EFFECTIVELY_INFINITE, CK_INVALID_HANDLE
    const CK_ULONG CK_CERTIFICATE_CATEGORY_UNSPECIFIED, CK_CERTIFICATE_CATEGORY_TOKEN_USER
    const CK_ULONG CK_CERTIFICATE_CATEGORY_AUTHORITY, CK_CERTIFICATE_CATEGORY_OTHER_ENTITY
    const CK_ULONG CK_SECURITY_DOMAIN_UNSPECIFIED, CK_SECURITY_DOMAIN_MANUFACTURER
    const CK_ULONG CK_SECURITY_DOMAIN_OPERATOR, CK_SECURITY_DOMAIN_THIRD_PARTY, CK_OTP_FORMAT_DECIMAL
    const CK_ULONG CK_OTP_FORMAT_HEXADECIMAL, CK_OTP_FORMAT_ALPHANUMERIC, CK_OTP_FORMAT_BINARY
    const CK_ULONG CK_OTP_PARAM_IGNORED, CK_OTP_PARAM_OPTIONAL, CK_OTP_PARAM_MANDATORY, CK_OTP_VALUE
    const CK_ULONG CK_OTP_PIN, CK_OTP_CHALLENGE, CK_OTP_TIME, CK_OTP_COUNTER, CK_OTP_FLAGS
    const CK_ULONG CK_OTP_OUTPUT_LENGTH, CK_OTP_OUTPUT_FORMAT, CK_SP800_108_ITERATION_VARIABLE
    const CK_ULONG CK_SP800_108_OPTIONAL_COUNTER, CK_SP800_108_DKM_LENGTH, CK_SP800_108_BYTE_ARRAY
    const CK_ULONG CK_SP800_108_COUNTER, CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS
    const CK_ULONG CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS
    const CK_ULONG CKF_TOKEN_PRESENT, CKF_REMOVABLE_DEVICE, CKF_HW_SLOT, CKF_RNG, CKF_WRITE_PROTECTED
    const CK_ULONG CKF_LOGIN_REQUIRED, CKF_USER_PIN_INITIALIZED, CKF_RESTORE_KEY_NOT_NEEDED
    const CK_ULONG CKF_CLOCK_ON_TOKEN, CKF_PROTECTED_AUTHENTICATION_PATH, CKF_DUAL_CRYPTO_OPERATIONS
    const CK_ULONG CKF_TOKEN_INITIALIZED, CKF_SECONDARY_AUTHENTICATION, CKF_USER_PIN_COUNT_LOW
    const CK_ULONG CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED, CKF_USER_PIN_TO_BE_CHANGED
    const CK_ULONG CKF_SO_PIN_COUNT_LOW, CKF_SO_PIN_FINAL_TRY, CKF_SO_PIN_LOCKED, CKF_SO_PIN_TO_BE_CHANGED
    const CK_ULONG CKF_ERROR_STATE, CKF_RW_SESSION, CKF_SERIAL_SESSION, CKF_ARRAY_ATTRIBUTE, CKF_HW
    const CK_ULONG CKF_MESSAGE_ENCRYPT, CKF_MESSAGE_DECRYPT, CKF_MESSAGE_SIGN, CKF_MESSAGE_VERIFY
    const CK_ULONG CKF_MULTI_MESSAGE, CKF_MULTI_MESSGE, CKF_FIND_OBJECTS, CKF_ENCRYPT, CKF_DECRYPT
    const CK_ULONG CKF_DIGEST, CKF_SIGN, CKF_SIGN_RECOVER, CKF_VERIFY, CKF_VERIFY_RECOVER, CKF_GENERATE
    const CK_ULONG CKF_GENERATE_KEY_PAIR, CKF_WRAP, CKF_UNWRAP, CKF_DERIVE, CKF_EC_F_P, CKF_EC_F_2M
    const CK_ULONG CKF_EC_ECPARAMETERS, CKF_EC_OID, CKF_EC_NAMEDCURVE, CKF_EC_UNCOMPRESS, CKF_EC_COMPRESS
    const CK_ULONG CKF_EC_CURVENAME, CKF_EXTENSION, CKF_LIBRARY_CANT_CREATE_OS_THREADS, CKF_OS_LOCKING_OK
    const CK_ULONG CKF_DONT_BLOCK, CKF_NEXT_OTP, CKF_EXCLUDE_TIME, CKF_EXCLUDE_COUNTER, CKF_EXCLUDE_CHALLENGE
    const CK_ULONG CKF_EXCLUDE_PIN, CKF_USER_FRIENDLY_OTP, CKF_INTERFACE_FORK_SAFE, CKF_END_OF_MESSAGE
    const CK_ULONG CKF_HKDF_SALT_NULL, CKF_HKDF_SALT_DATA, CKF_HKDF_SALT_KEY
    const CK_ULONG CKN_SURRENDER, CKN_OTP_CHANGED
    const CK_ULONG CKU_SO, CKU_USER, CKU_CONTEXT_SPECIFIC
    const CK_ULONG CKS_RO_PUBLIC_SESSION, CKS_RO_USER_FUNCTIONS, CKS_RW_PUBLIC_SESSION, CKS_RW_USER_FUNCTIONS
    const CK_ULONG CKS_RW_SO_FUNCTIONS
    const CK_ULONG CKO_DATA, CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY, CKO_HW_FEATURE
    const CK_ULONG CKO_DOMAIN_PARAMETERS, CKO_MECHANISM, CKO_OTP_KEY, CKO_PROFILE, CKO_VENDOR_DEFINED
    const CK_ULONG CKP_INVALID_ID, CKP_BASELINE_PROVIDER, CKP_EXTENDED_PROVIDER, CKP_AUTHENTICATION_TOKEN
    const CK_ULONG CKP_PUBLIC_CERTIFICATES_TOKEN, CKP_COMPLETE_PROVIDER, CKP_HKDF_TLS_TOKEN
    const CK_ULONG CKP_VENDOR_DEFINED, CKP_PKCS5_PBKD2_HMAC_SHA1, CKP_PKCS5_PBKD2_HMAC_GOSTR3411
    const CK_ULONG CKP_PKCS5_PBKD2_HMAC_SHA224, CKP_PKCS5_PBKD2_HMAC_SHA256, CKP_PKCS5_PBKD2_HMAC_SHA384
    const CK_ULONG CKP_PKCS5_PBKD2_HMAC_SHA512, CKP_PKCS5_PBKD2_HMAC_SHA512_224
    const CK_ULONG CKP_PKCS5_PBKD2_HMAC_SHA512_256
    const CK_ULONG CKH_MONOTONIC_COUNTER, CKH_CLOCK, CKH_USER_INTERFACE, CKH_VENDOR_DEFINED
    const CK_ULONG CKK_RSA, CKK_DSA, CKK_DH, CKK_EC, CKK_ECDSA, CKK_X9_42_DH, CKK_KEA, CKK_GENERIC_SECRET
    const CK_ULONG CKK_RC2, CKK_RC4, CKK_DES, CKK_DES2, CKK_DES3, CKK_CAST, CKK_CAST3, CKK_CAST128, CKK_CAST5
    const CK_ULONG CKK_RC5, CKK_IDEA, CKK_SKIPJACK, CKK_BATON, CKK_JUNIPER, CKK_CDMF, CKK_AES, CKK_BLOWFISH
    const CK_ULONG CKK_TWOFISH, CKK_SECURID, CKK_HOTP, CKK_ACTI, CKK_CAMELLIA, CKK_ARIA, CKK_MD5_HMAC
    const CK_ULONG CKK_SHA_1_HMAC, CKK_RIPEMD128_HMAC, CKK_RIPEMD160_HMAC, CKK_SHA256_HMAC, CKK_SHA384_HMAC
    const CK_ULONG CKK_SHA512_HMAC, CKK_SHA224_HMAC, CKK_SEED, CKK_GOSTR3410, CKK_GOSTR3411, CKK_GOST28147
    const CK_ULONG CKK_CHACHA20, CKK_POLY1305, CKK_AES_XTS, CKK_SHA3_224_HMAC, CKK_SHA3_256_HMAC
    const CK_ULONG CKK_SHA3_384_HMAC, CKK_SHA3_512_HMAC, CKK_BLAKE2B_160_HMAC, CKK_BLAKE2B_256_HMAC
    const CK_ULONG CKK_BLAKE2B_384_HMAC, CKK_BLAKE2B_512_HMAC, CKK_SALSA20, CKK_X2RATCHET, CKK_EC_EDWARDS
    const CK_ULONG CKK_EC_MONTGOMERY, CKK_HKDF, CKK_SHA512_224_HMAC, CKK_SHA512_256_HMAC, CKK_SHA512_T_HMAC
    const CK_ULONG CKK_HSS, CKK_VENDOR_DEFINED
    const CK_ULONG CKC_X_509, CKC_X_509_ATTR_CERT, CKC_WTLS, CKC_VENDOR_DEFINED
    const CK_ULONG CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_UNIQUE_ID, CKA_APPLICATION, CKA_VALUE
    const CK_ULONG CKA_OBJECT_ID, CKA_CERTIFICATE_TYPE, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_AC_ISSUER
    const CK_ULONG CKA_OWNER, CKA_ATTR_TYPES, CKA_TRUSTED, CKA_CERTIFICATE_CATEGORY
    const CK_ULONG CKA_JAVA_MIDP_SECURITY_DOMAIN, CKA_URL, CKA_HASH_OF_SUBJECT_PUBLIC_KEY
    const CK_ULONG CKA_HASH_OF_ISSUER_PUBLIC_KEY, CKA_NAME_HASH_ALGORITHM, CKA_CHECK_VALUE, CKA_KEY_TYPE
    const CK_ULONG CKA_SUBJECT, CKA_ID, CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP
    const CK_ULONG CKA_SIGN, CKA_SIGN_RECOVER, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_DERIVE, CKA_START_DATE
    const CK_ULONG CKA_END_DATE, CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT
    const CK_ULONG CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT
    const CK_ULONG CKA_PUBLIC_KEY_INFO, CKA_PRIME, CKA_SUBPRIME, CKA_BASE, CKA_PRIME_BITS, CKA_SUBPRIME_BITS
    const CK_ULONG CKA_SUB_PRIME_BITS, CKA_VALUE_BITS, CKA_VALUE_LEN, CKA_EXTRACTABLE, CKA_LOCAL
    const CK_ULONG CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_KEY_GEN_MECHANISM, CKA_MODIFIABLE
    const CK_ULONG CKA_COPYABLE, CKA_DESTROYABLE, CKA_EC_PARAMS, CKA_ECDSA_PARAMS, CKA_EC_POINT
    const CK_ULONG CKA_SECONDARY_AUTH, CKA_AUTH_PIN_FLAGS, CKA_ALWAYS_AUTHENTICATE, CKA_WRAP_WITH_TRUSTED
    const CK_ULONG CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE, CKA_OTP_FORMAT
    const CK_ULONG CKA_OTP_LENGTH, CKA_OTP_TIME_INTERVAL, CKA_OTP_USER_FRIENDLY_MODE
    const CK_ULONG CKA_OTP_CHALLENGE_REQUIREMENT, CKA_OTP_TIME_REQUIREMENT, CKA_OTP_COUNTER_REQUIREMENT
    const CK_ULONG CKA_OTP_PIN_REQUIREMENT, CKA_OTP_COUNTER, CKA_OTP_TIME, CKA_OTP_USER_IDENTIFIER
    const CK_ULONG CKA_OTP_SERVICE_IDENTIFIER, CKA_OTP_SERVICE_LOGO, CKA_OTP_SERVICE_LOGO_TYPE
    const CK_ULONG CKA_GOSTR3410_PARAMS, CKA_GOSTR3411_PARAMS, CKA_GOST28147_PARAMS, CKA_HW_FEATURE_TYPE
    const CK_ULONG CKA_RESET_ON_INIT, CKA_HAS_RESET, CKA_PIXEL_X, CKA_PIXEL_Y, CKA_RESOLUTION, CKA_CHAR_ROWS
    const CK_ULONG CKA_CHAR_COLUMNS, CKA_COLOR, CKA_BITS_PER_PIXEL, CKA_CHAR_SETS, CKA_ENCODING_METHODS
    const CK_ULONG CKA_MIME_TYPES, CKA_MECHANISM_TYPE, CKA_REQUIRED_CMS_ATTRIBUTES
    const CK_ULONG CKA_DEFAULT_CMS_ATTRIBUTES, CKA_SUPPORTED_CMS_ATTRIBUTES, CKA_ALLOWED_MECHANISMS
    const CK_ULONG CKA_PROFILE_ID, CKA_X2RATCHET_BAG, CKA_X2RATCHET_BAGSIZE, CKA_X2RATCHET_BOBS1STMSG
    const CK_ULONG CKA_X2RATCHET_CKR, CKA_X2RATCHET_CKS, CKA_X2RATCHET_DHP, CKA_X2RATCHET_DHR
    const CK_ULONG CKA_X2RATCHET_DHS, CKA_X2RATCHET_HKR, CKA_X2RATCHET_HKS, CKA_X2RATCHET_ISALICE
    const CK_ULONG CKA_X2RATCHET_NHKR, CKA_X2RATCHET_NHKS, CKA_X2RATCHET_NR, CKA_X2RATCHET_NS
    const CK_ULONG CKA_X2RATCHET_PNS, CKA_X2RATCHET_RK, CKA_HSS_LEVELS, CKA_HSS_LMS_TYPE, CKA_HSS_LMOTS_TYPE
    const CK_ULONG CKA_HSS_LMS_TYPES, CKA_HSS_LMOTS_TYPES, CKA_HSS_KEYS_REMAINING, CKA_VENDOR_DEFINED
    const CK_ULONG CKR_OK, CKR_CANCEL, CKR_HOST_MEMORY, CKR_SLOT_ID_INVALID, CKR_GENERAL_ERROR
    const CK_ULONG CKR_FUNCTION_FAILED, CKR_ARGUMENTS_BAD, CKR_NO_EVENT, CKR_NEED_TO_CREATE_THREADS
    const CK_ULONG CKR_CANT_LOCK, CKR_ATTRIBUTE_READ_ONLY, CKR_ATTRIBUTE_SENSITIVE
    const CK_ULONG CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_VALUE_INVALID, CKR_ACTION_PROHIBITED
    const CK_ULONG CKR_DATA_INVALID, CKR_DATA_LEN_RANGE, CKR_DEVICE_ERROR, CKR_DEVICE_MEMORY
    const CK_ULONG CKR_DEVICE_REMOVED, CKR_ENCRYPTED_DATA_INVALID, CKR_ENCRYPTED_DATA_LEN_RANGE
    const CK_ULONG CKR_AEAD_DECRYPT_FAILED, CKR_FUNCTION_CANCELED, CKR_FUNCTION_NOT_PARALLEL
    const CK_ULONG CKR_FUNCTION_NOT_SUPPORTED, CKR_KEY_HANDLE_INVALID, CKR_KEY_SIZE_RANGE
    const CK_ULONG CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_NOT_NEEDED, CKR_KEY_CHANGED, CKR_KEY_NEEDED
    const CK_ULONG CKR_KEY_INDIGESTIBLE, CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_NOT_WRAPPABLE
    const CK_ULONG CKR_KEY_UNEXTRACTABLE, CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID
    const CK_ULONG CKR_OBJECT_HANDLE_INVALID, CKR_OPERATION_ACTIVE, CKR_OPERATION_NOT_INITIALIZED
    const CK_ULONG CKR_PIN_INCORRECT, CKR_PIN_INVALID, CKR_PIN_LEN_RANGE, CKR_PIN_EXPIRED, CKR_PIN_LOCKED
    const CK_ULONG CKR_SESSION_CLOSED, CKR_SESSION_COUNT, CKR_SESSION_HANDLE_INVALID
    const CK_ULONG CKR_SESSION_PARALLEL_NOT_SUPPORTED, CKR_SESSION_READ_ONLY, CKR_SESSION_EXISTS
    const CK_ULONG CKR_SESSION_READ_ONLY_EXISTS, CKR_SESSION_READ_WRITE_SO_EXISTS, CKR_SIGNATURE_INVALID
    const CK_ULONG CKR_SIGNATURE_LEN_RANGE, CKR_TEMPLATE_INCOMPLETE, CKR_TEMPLATE_INCONSISTENT
    const CK_ULONG CKR_TOKEN_NOT_PRESENT, CKR_TOKEN_NOT_RECOGNIZED, CKR_TOKEN_WRITE_PROTECTED
    const CK_ULONG CKR_UNWRAPPING_KEY_HANDLE_INVALID, CKR_UNWRAPPING_KEY_SIZE_RANGE
    const CK_ULONG CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, CKR_USER_ALREADY_LOGGED_IN, CKR_USER_NOT_LOGGED_IN
    const CK_ULONG CKR_USER_PIN_NOT_INITIALIZED, CKR_USER_TYPE_INVALID, CKR_USER_ANOTHER_ALREADY_LOGGED_IN
    const CK_ULONG CKR_USER_TOO_MANY_TYPES, CKR_WRAPPED_KEY_INVALID, CKR_WRAPPED_KEY_LEN_RANGE
    const CK_ULONG CKR_WRAPPING_KEY_HANDLE_INVALID, CKR_WRAPPING_KEY_SIZE_RANGE
    const CK_ULONG CKR_WRAPPING_KEY_TYPE_INCONSISTENT, CKR_RANDOM_SEED_NOT_SUPPORTED, CKR_RANDOM_NO_RNG
    const CK_ULONG CKR_DOMAIN_PARAMS_INVALID, CKR_CURVE_NOT_SUPPORTED, CKR_BUFFER_TOO_SMALL
    const CK_ULONG CKR_SAVED_STATE_INVALID, CKR_INFORMATION_SENSITIVE, CKR_STATE_UNSAVEABLE
    const CK_ULONG CKR_CRYPTOKI_NOT_INITIALIZED, CKR_CRYPTOKI_ALREADY_INITIALIZED, CKR_MUTEX_BAD
    const CK_ULONG CKR_MUTEX_NOT_LOCKED, CKR_NEW_PIN_MODE, CKR_NEXT_OTP, CKR_EXCEEDED_MAX_ITERATIONS
    const CK_ULONG CKR_FIPS_SELF_TEST_FAILED, CKR_LIBRARY_LOAD_FAILED, CKR_PIN_TOO_WEAK
    const CK_ULONG CKR_PUBLIC_KEY_INVALID, CKR_FUNCTION_REJECTED, CKR_TOKEN_RESOURCE_EXCEEDED
    const CK_ULONG CKR_OPERATION_CANCEL_FAILED, CKR_KEY_EXHAUSTED, CKR_VENDOR_DEFINED
    const CK_ULONG CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_PKCS, CKM_RSA_9796, CKM_RSA_X_509, CKM_MD2_RSA_PKCS
    const CK_ULONG CKM_MD5_RSA_PKCS, CKM_SHA1_RSA_PKCS, CKM_RIPEMD128_RSA_PKCS, CKM_RIPEMD160_RSA_PKCS
    const CK_ULONG CKM_RSA_PKCS_OAEP, CKM_RSA_X9_31_KEY_PAIR_GEN, CKM_RSA_X9_31, CKM_SHA1_RSA_X9_31
    const CK_ULONG CKM_RSA_PKCS_PSS, CKM_SHA1_RSA_PKCS_PSS, CKM_DSA_KEY_PAIR_GEN, CKM_DSA, CKM_DSA_SHA1
    const CK_ULONG CKM_DSA_SHA224, CKM_DSA_SHA256, CKM_DSA_SHA384, CKM_DSA_SHA512, CKM_DSA_SHA3_224
    const CK_ULONG CKM_DSA_SHA3_256, CKM_DSA_SHA3_384, CKM_DSA_SHA3_512, CKM_DH_PKCS_KEY_PAIR_GEN
    const CK_ULONG CKM_DH_PKCS_DERIVE, CKM_X9_42_DH_KEY_PAIR_GEN, CKM_X9_42_DH_DERIVE
    const CK_ULONG CKM_X9_42_DH_HYBRID_DERIVE, CKM_X9_42_MQV_DERIVE, CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS
    const CK_ULONG CKM_SHA512_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS
    const CK_ULONG CKM_SHA512_RSA_PKCS_PSS, CKM_SHA224_RSA_PKCS, CKM_SHA224_RSA_PKCS_PSS, CKM_SHA512_224
    const CK_ULONG CKM_SHA512_224_HMAC, CKM_SHA512_224_HMAC_GENERAL, CKM_SHA512_224_KEY_DERIVATION
    const CK_ULONG CKM_SHA512_256, CKM_SHA512_256_HMAC, CKM_SHA512_256_HMAC_GENERAL
    const CK_ULONG CKM_SHA512_256_KEY_DERIVATION, CKM_SHA512_T, CKM_SHA512_T_HMAC, CKM_SHA512_T_HMAC_GENERAL
    const CK_ULONG CKM_SHA512_T_KEY_DERIVATION, CKM_SHA3_256_RSA_PKCS, CKM_SHA3_384_RSA_PKCS
    const CK_ULONG CKM_SHA3_512_RSA_PKCS, CKM_SHA3_256_RSA_PKCS_PSS, CKM_SHA3_384_RSA_PKCS_PSS
    const CK_ULONG CKM_SHA3_512_RSA_PKCS_PSS, CKM_SHA3_224_RSA_PKCS, CKM_SHA3_224_RSA_PKCS_PSS
    const CK_ULONG CKM_RC2_KEY_GEN, CKM_RC2_ECB, CKM_RC2_CBC, CKM_RC2_MAC, CKM_RC2_MAC_GENERAL
    const CK_ULONG CKM_RC2_CBC_PAD, CKM_RC4_KEY_GEN, CKM_RC4, CKM_DES_KEY_GEN, CKM_DES_ECB, CKM_DES_CBC
    const CK_ULONG CKM_DES_MAC, CKM_DES_MAC_GENERAL, CKM_DES_CBC_PAD, CKM_DES2_KEY_GEN, CKM_DES3_KEY_GEN
    const CK_ULONG CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_MAC, CKM_DES3_MAC_GENERAL, CKM_DES3_CBC_PAD
    const CK_ULONG CKM_DES3_CMAC_GENERAL, CKM_DES3_CMAC, CKM_CDMF_KEY_GEN, CKM_CDMF_ECB, CKM_CDMF_CBC
    const CK_ULONG CKM_CDMF_MAC, CKM_CDMF_MAC_GENERAL, CKM_CDMF_CBC_PAD, CKM_DES_OFB64, CKM_DES_OFB8
    const CK_ULONG CKM_DES_CFB64, CKM_DES_CFB8, CKM_MD2, CKM_MD2_HMAC, CKM_MD2_HMAC_GENERAL, CKM_MD5
    const CK_ULONG CKM_MD5_HMAC, CKM_MD5_HMAC_GENERAL, CKM_SHA_1, CKM_SHA_1_HMAC, CKM_SHA_1_HMAC_GENERAL
    const CK_ULONG CKM_RIPEMD128, CKM_RIPEMD128_HMAC, CKM_RIPEMD128_HMAC_GENERAL, CKM_RIPEMD160
    const CK_ULONG CKM_RIPEMD160_HMAC, CKM_RIPEMD160_HMAC_GENERAL, CKM_SHA256, CKM_SHA256_HMAC
    const CK_ULONG CKM_SHA256_HMAC_GENERAL, CKM_SHA224, CKM_SHA224_HMAC, CKM_SHA224_HMAC_GENERAL, CKM_SHA384
    const CK_ULONG CKM_SHA384_HMAC, CKM_SHA384_HMAC_GENERAL, CKM_SHA512, CKM_SHA512_HMAC
    const CK_ULONG CKM_SHA512_HMAC_GENERAL, CKM_SECURID_KEY_GEN, CKM_SECURID, CKM_HOTP_KEY_GEN, CKM_HOTP
    const CK_ULONG CKM_ACTI, CKM_ACTI_KEY_GEN, CKM_SHA3_256, CKM_SHA3_256_HMAC, CKM_SHA3_256_HMAC_GENERAL
    const CK_ULONG CKM_SHA3_256_KEY_GEN, CKM_SHA3_224, CKM_SHA3_224_HMAC, CKM_SHA3_224_HMAC_GENERAL
    const CK_ULONG CKM_SHA3_224_KEY_GEN, CKM_SHA3_384, CKM_SHA3_384_HMAC, CKM_SHA3_384_HMAC_GENERAL
    const CK_ULONG CKM_SHA3_384_KEY_GEN, CKM_SHA3_512, CKM_SHA3_512_HMAC, CKM_SHA3_512_HMAC_GENERAL
    const CK_ULONG CKM_SHA3_512_KEY_GEN, CKM_CAST_KEY_GEN, CKM_CAST_ECB, CKM_CAST_CBC, CKM_CAST_MAC
    const CK_ULONG CKM_CAST_MAC_GENERAL, CKM_CAST_CBC_PAD, CKM_CAST3_KEY_GEN, CKM_CAST3_ECB, CKM_CAST3_CBC
    const CK_ULONG CKM_CAST3_MAC, CKM_CAST3_MAC_GENERAL, CKM_CAST3_CBC_PAD, CKM_CAST128_KEY_GEN
    const CK_ULONG CKM_CAST128_ECB, CKM_CAST128_CBC, CKM_CAST128_MAC, CKM_CAST128_MAC_GENERAL
    const CK_ULONG CKM_CAST128_CBC_PAD, CKM_CAST5_KEY_GEN, CKM_CAST5_ECB, CKM_CAST5_CBC, CKM_CAST5_MAC
    const CK_ULONG CKM_CAST5_MAC_GENERAL, CKM_CAST5_CBC_PAD, CKM_RC5_KEY_GEN, CKM_RC5_ECB, CKM_RC5_CBC
    const CK_ULONG CKM_RC5_MAC, CKM_RC5_MAC_GENERAL, CKM_RC5_CBC_PAD, CKM_IDEA_KEY_GEN, CKM_IDEA_ECB
    const CK_ULONG CKM_IDEA_CBC, CKM_IDEA_MAC, CKM_IDEA_MAC_GENERAL, CKM_IDEA_CBC_PAD
    const CK_ULONG CKM_GENERIC_SECRET_KEY_GEN, CKM_CONCATENATE_BASE_AND_KEY, CKM_CONCATENATE_BASE_AND_DATA
    const CK_ULONG CKM_CONCATENATE_DATA_AND_BASE, CKM_XOR_BASE_AND_DATA, CKM_EXTRACT_KEY_FROM_KEY
    const CK_ULONG CKM_SSL3_PRE_MASTER_KEY_GEN, CKM_SSL3_MASTER_KEY_DERIVE, CKM_SSL3_KEY_AND_MAC_DERIVE
    const CK_ULONG CKM_SSL3_MASTER_KEY_DERIVE_DH, CKM_TLS_PRE_MASTER_KEY_GEN, CKM_TLS_MASTER_KEY_DERIVE
    const CK_ULONG CKM_TLS_KEY_AND_MAC_DERIVE, CKM_TLS_MASTER_KEY_DERIVE_DH, CKM_TLS_PRF, CKM_SSL3_MD5_MAC
    const CK_ULONG CKM_SSL3_SHA1_MAC, CKM_MD5_KEY_DERIVATION, CKM_MD2_KEY_DERIVATION, CKM_SHA1_KEY_DERIVATION
    const CK_ULONG CKM_SHA256_KEY_DERIVATION, CKM_SHA384_KEY_DERIVATION, CKM_SHA512_KEY_DERIVATION
    const CK_ULONG CKM_SHA224_KEY_DERIVATION, CKM_SHA3_256_KEY_DERIVATION, CKM_SHA3_256_KEY_DERIVE
    const CK_ULONG CKM_SHA3_224_KEY_DERIVATION, CKM_SHA3_224_KEY_DERIVE, CKM_SHA3_384_KEY_DERIVATION
    const CK_ULONG CKM_SHA3_384_KEY_DERIVE, CKM_SHA3_512_KEY_DERIVATION, CKM_SHA3_512_KEY_DERIVE
    const CK_ULONG CKM_SHAKE_128_KEY_DERIVATION, CKM_SHAKE_128_KEY_DERIVE, CKM_SHAKE_256_KEY_DERIVATION
    const CK_ULONG CKM_SHAKE_256_KEY_DERIVE, CKM_PBE_MD2_DES_CBC, CKM_PBE_MD5_DES_CBC, CKM_PBE_MD5_CAST_CBC
    const CK_ULONG CKM_PBE_MD5_CAST3_CBC, CKM_PBE_MD5_CAST128_CBC, CKM_PBE_MD5_CAST5_CBC
    const CK_ULONG CKM_PBE_SHA1_CAST128_CBC, CKM_PBE_SHA1_CAST5_CBC, CKM_PBE_SHA1_RC4_128
    const CK_ULONG CKM_PBE_SHA1_RC4_40, CKM_PBE_SHA1_DES3_EDE_CBC, CKM_PBE_SHA1_DES2_EDE_CBC
    const CK_ULONG CKM_PBE_SHA1_RC2_128_CBC, CKM_PBE_SHA1_RC2_40_CBC, CKM_SP800_108_COUNTER_KDF
    const CK_ULONG CKM_SP800_108_FEEDBACK_KDF, CKM_SP800_108_DOUBLE_PIPELINE_KDF, CKM_PKCS5_PBKD2
    const CK_ULONG CKM_PBA_SHA1_WITH_SHA1_HMAC, CKM_WTLS_PRE_MASTER_KEY_GEN, CKM_WTLS_MASTER_KEY_DERIVE
    const CK_ULONG CKM_WTLS_MASTER_KEY_DERIVE_DH_ECC, CKM_WTLS_PRF, CKM_WTLS_SERVER_KEY_AND_MAC_DERIVE
    const CK_ULONG CKM_WTLS_CLIENT_KEY_AND_MAC_DERIVE, CKM_TLS10_MAC_SERVER, CKM_TLS10_MAC_CLIENT
    const CK_ULONG CKM_TLS12_MAC, CKM_TLS12_KDF, CKM_TLS12_MASTER_KEY_DERIVE, CKM_TLS12_KEY_AND_MAC_DERIVE
    const CK_ULONG CKM_TLS12_MASTER_KEY_DERIVE_DH, CKM_TLS12_KEY_SAFE_DERIVE, CKM_TLS_MAC, CKM_TLS_KDF
    const CK_ULONG CKM_KEY_WRAP_LYNKS, CKM_KEY_WRAP_SET_OAEP, CKM_CMS_SIG, CKM_KIP_DERIVE, CKM_KIP_WRAP
    const CK_ULONG CKM_KIP_MAC, CKM_CAMELLIA_KEY_GEN, CKM_CAMELLIA_ECB, CKM_CAMELLIA_CBC, CKM_CAMELLIA_MAC
    const CK_ULONG CKM_CAMELLIA_MAC_GENERAL, CKM_CAMELLIA_CBC_PAD, CKM_CAMELLIA_ECB_ENCRYPT_DATA
    const CK_ULONG CKM_CAMELLIA_CBC_ENCRYPT_DATA, CKM_CAMELLIA_CTR, CKM_ARIA_KEY_GEN, CKM_ARIA_ECB
    const CK_ULONG CKM_ARIA_CBC, CKM_ARIA_MAC, CKM_ARIA_MAC_GENERAL, CKM_ARIA_CBC_PAD
    const CK_ULONG CKM_ARIA_ECB_ENCRYPT_DATA, CKM_ARIA_CBC_ENCRYPT_DATA, CKM_SEED_KEY_GEN, CKM_SEED_ECB
    const CK_ULONG CKM_SEED_CBC, CKM_SEED_MAC, CKM_SEED_MAC_GENERAL, CKM_SEED_CBC_PAD
    const CK_ULONG CKM_SEED_ECB_ENCRYPT_DATA, CKM_SEED_CBC_ENCRYPT_DATA, CKM_SKIPJACK_KEY_GEN
    const CK_ULONG CKM_SKIPJACK_ECB64, CKM_SKIPJACK_CBC64, CKM_SKIPJACK_OFB64, CKM_SKIPJACK_CFB64
    const CK_ULONG CKM_SKIPJACK_CFB32, CKM_SKIPJACK_CFB16, CKM_SKIPJACK_CFB8, CKM_SKIPJACK_WRAP
    const CK_ULONG CKM_SKIPJACK_PRIVATE_WRAP, CKM_SKIPJACK_RELAYX, CKM_KEA_KEY_PAIR_GEN, CKM_KEA_KEY_DERIVE
    const CK_ULONG CKM_KEA_DERIVE, CKM_FORTEZZA_TIMESTAMP, CKM_BATON_KEY_GEN, CKM_BATON_ECB128
    const CK_ULONG CKM_BATON_ECB96, CKM_BATON_CBC128, CKM_BATON_COUNTER, CKM_BATON_SHUFFLE, CKM_BATON_WRAP
    const CK_ULONG CKM_EC_KEY_PAIR_GEN, CKM_ECDSA_KEY_PAIR_GEN, CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA224
    const CK_ULONG CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512, CKM_ECDSA_SHA3_224
    const CK_ULONG CKM_ECDSA_SHA3_256, CKM_ECDSA_SHA3_384, CKM_ECDSA_SHA3_512
    const CK_ULONG CKM_EC_KEY_PAIR_GEN_W_EXTRA_BITS, CKM_ECDH1_DERIVE, CKM_ECDH1_COFACTOR_DERIVE
    const CK_ULONG CKM_ECMQV_DERIVE, CKM_ECDH_AES_KEY_WRAP, CKM_RSA_AES_KEY_WRAP, CKM_EC_EDWARDS_KEY_PAIR_GEN
    const CK_ULONG CKM_EC_MONTGOMERY_KEY_PAIR_GEN, CKM_EDDSA, CKM_JUNIPER_KEY_GEN, CKM_JUNIPER_ECB128
    const CK_ULONG CKM_JUNIPER_CBC128, CKM_JUNIPER_COUNTER, CKM_JUNIPER_SHUFFLE, CKM_JUNIPER_WRAP
    const CK_ULONG CKM_FASTHASH, CKM_AES_XTS, CKM_AES_XTS_KEY_GEN, CKM_AES_KEY_GEN, CKM_AES_ECB, CKM_AES_CBC
    const CK_ULONG CKM_AES_MAC, CKM_AES_MAC_GENERAL, CKM_AES_CBC_PAD, CKM_AES_CTR, CKM_AES_GCM, CKM_AES_CCM
    const CK_ULONG CKM_AES_CTS, CKM_AES_CMAC, CKM_AES_CMAC_GENERAL, CKM_AES_XCBC_MAC, CKM_AES_XCBC_MAC_96
    const CK_ULONG CKM_AES_GMAC, CKM_BLOWFISH_KEY_GEN, CKM_BLOWFISH_CBC, CKM_TWOFISH_KEY_GEN, CKM_TWOFISH_CBC
    const CK_ULONG CKM_BLOWFISH_CBC_PAD, CKM_TWOFISH_CBC_PAD, CKM_DES_ECB_ENCRYPT_DATA
    const CK_ULONG CKM_DES_CBC_ENCRYPT_DATA, CKM_DES3_ECB_ENCRYPT_DATA, CKM_DES3_CBC_ENCRYPT_DATA
    const CK_ULONG CKM_AES_ECB_ENCRYPT_DATA, CKM_AES_CBC_ENCRYPT_DATA, CKM_GOSTR3410_KEY_PAIR_GEN
    const CK_ULONG CKM_GOSTR3410, CKM_GOSTR3410_WITH_GOSTR3411, CKM_GOSTR3410_KEY_WRAP, CKM_GOSTR3410_DERIVE
    const CK_ULONG CKM_GOSTR3411, CKM_GOSTR3411_HMAC, CKM_GOST28147_KEY_GEN, CKM_GOST28147_ECB, CKM_GOST28147
    const CK_ULONG CKM_GOST28147_MAC, CKM_GOST28147_KEY_WRAP, CKM_CHACHA20_KEY_GEN, CKM_CHACHA20
    const CK_ULONG CKM_POLY1305_KEY_GEN, CKM_POLY1305, CKM_DSA_PARAMETER_GEN, CKM_DH_PKCS_PARAMETER_GEN
    const CK_ULONG CKM_X9_42_DH_PARAMETER_GEN, CKM_DSA_PROBABILISTIC_PARAMETER_GEN
    const CK_ULONG CKM_DSA_PROBABLISTIC_PARAMETER_GEN, CKM_DSA_SHAWE_TAYLOR_PARAMETER_GEN, CKM_DSA_FIPS_G_GEN
    const CK_ULONG CKM_AES_OFB, CKM_AES_CFB64, CKM_AES_CFB8, CKM_AES_CFB128, CKM_AES_CFB1, CKM_AES_KEY_WRAP
    const CK_ULONG CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_WRAP_PKCS7, CKM_RSA_PKCS_TPM_1_1
    const CK_ULONG CKM_RSA_PKCS_OAEP_TPM_1_1, CKM_SHA_1_KEY_GEN, CKM_SHA224_KEY_GEN, CKM_SHA256_KEY_GEN
    const CK_ULONG CKM_SHA384_KEY_GEN, CKM_SHA512_KEY_GEN, CKM_SHA512_224_KEY_GEN, CKM_SHA512_256_KEY_GEN
    const CK_ULONG CKM_SHA512_T_KEY_GEN, CKM_NULL, CKM_BLAKE2B_160, CKM_BLAKE2B_160_HMAC
    const CK_ULONG CKM_BLAKE2B_160_HMAC_GENERAL, CKM_BLAKE2B_160_KEY_DERIVE, CKM_BLAKE2B_160_KEY_GEN
    const CK_ULONG CKM_BLAKE2B_256, CKM_BLAKE2B_256_HMAC, CKM_BLAKE2B_256_HMAC_GENERAL
    const CK_ULONG CKM_BLAKE2B_256_KEY_DERIVE, CKM_BLAKE2B_256_KEY_GEN, CKM_BLAKE2B_384, CKM_BLAKE2B_384_HMAC
    const CK_ULONG CKM_BLAKE2B_384_HMAC_GENERAL, CKM_BLAKE2B_384_KEY_DERIVE, CKM_BLAKE2B_384_KEY_GEN
    const CK_ULONG CKM_BLAKE2B_512, CKM_BLAKE2B_512_HMAC, CKM_BLAKE2B_512_HMAC_GENERAL
    const CK_ULONG CKM_BLAKE2B_512_KEY_DERIVE, CKM_BLAKE2B_512_KEY_GEN, CKM_SALSA20, CKM_CHACHA20_POLY1305
    const CK_ULONG CKM_SALSA20_POLY1305, CKM_X3DH_INITIALIZE, CKM_X3DH_RESPOND, CKM_X2RATCHET_INITIALIZE
    const CK_ULONG CKM_X2RATCHET_RESPOND, CKM_X2RATCHET_ENCRYPT, CKM_X2RATCHET_DECRYPT, CKM_XEDDSA
    const CK_ULONG CKM_HKDF_DERIVE, CKM_HKDF_DATA, CKM_HKDF_KEY_GEN, CKM_SALSA20_KEY_GEN
    const CK_ULONG CKM_IKE2_PRF_PLUS_DERIVE, CKM_IKE_PRF_DERIVE, CKM_IKE1_PRF_DERIVE
    const CK_ULONG CKM_IKE1_EXTENDED_DERIVE, CKM_HSS_KEY_PAIR_GEN, CKM_HSS, CKM_VENDOR_DEFINED
    const CK_ULONG CKG_MGF1_SHA1, CKG_MGF1_SHA256, CKG_MGF1_SHA384, CKG_MGF1_SHA512, CKG_MGF1_SHA224
    const CK_ULONG CKG_MGF1_SHA3_224, CKG_MGF1_SHA3_256, CKG_MGF1_SHA3_384, CKG_MGF1_SHA3_512
    const CK_ULONG CKG_NO_GENERATE, CKG_GENERATE, CKG_GENERATE_COUNTER, CKG_GENERATE_RANDOM
    const CK_ULONG CKG_GENERATE_COUNTER_XOR
    const CK_ULONG CKZ_DATA_SPECIFIED, CKZ_SALT_SPECIFIED
    const CK_ULONG CKD_NULL, CKD_SHA1_KDF, CKD_SHA1_KDF_ASN1, CKD_SHA1_KDF_CONCATENATE, CKD_SHA224_KDF
    const CK_ULONG CKD_SHA256_KDF, CKD_SHA384_KDF, CKD_SHA512_KDF, CKD_CPDIVERSIFY_KDF, CKD_SHA3_224_KDF
    const CK_ULONG CKD_SHA3_256_KDF, CKD_SHA3_384_KDF, CKD_SHA3_512_KDF, CKD_SHA1_KDF_SP800
    const CK_ULONG CKD_SHA224_KDF_SP800, CKD_SHA256_KDF_SP800, CKD_SHA384_KDF_SP800, CKD_SHA512_KDF_SP800
    const CK_ULONG CKD_SHA3_224_KDF_SP800, CKD_SHA3_256_KDF_SP800, CKD_SHA3_384_KDF_SP800
    const CK_ULONG CKD_SHA3_512_KDF_SP800, CKD_BLAKE2B_160_KDF, CKD_BLAKE2B_256_KDF, CKD_BLAKE2B_384_KDF
    const CK_ULONG CKD_BLAKE2B_512_KDF
