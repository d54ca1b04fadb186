"""The CA side: profiles, HSM signer, CAs, CRL, OCSP and the EST service."""
