"""Analytics extracts: the building blocks of k-anonymous, de-identified customer-level files.

* :mod:`vault.extracts.features`: features derived from a customer's decrypted
  360 inside the vault (tenure, holdings, premium, claims, contacts, loyalty, churn);
* :mod:`vault.extracts.spill`: the encrypted scratch file between the two passes;
* :mod:`vault.extracts.output`: the data file and ``manifest.json``, written to a
  staging directory and moved into place only when complete.

The k-anonymity search itself is :mod:`vault.masking.kanonymity`; profiles are
:mod:`vault.policy.export_profiles`; :mod:`vault.services.exports` runs an export.
"""
