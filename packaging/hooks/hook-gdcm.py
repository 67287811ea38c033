"""PyInstaller hook for python-gdcm: top-level ``gdcm`` module over the ``_gdcm`` package.

python-gdcm installs ``gdcm.py`` plus ``_gdcm/`` (the SWIG extension, its shared libs and the
DICOM dictionary XML files); pydicom imports ``gdcm`` only when it decodes with GDCM.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs, collect_submodules

hiddenimports = collect_submodules("_gdcm")
datas = collect_data_files("_gdcm", excludes=["**/gdcm[a-z]*[!y]"])
binaries = collect_dynamic_libs("_gdcm")
