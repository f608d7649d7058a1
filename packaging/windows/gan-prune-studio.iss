; Inno Setup script: a per-user installer for the studio (no administrator rights needed).
; Build on Windows after `python packaging\build.py --studio` has made dist\gan-prune-studio\:
;     "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" packaging\windows\gan-prune-studio.iss
; Output: dist\GAN-Pruning-Studio-0.1.0-setup.exe. All paths are relative to this script's folder.

#define AppName "GAN Pruning Studio"
#define AppVersion "0.1.0"
#define AppExe "gan-prune-studio.exe"
#define Root "..\.."

[Setup]
AppId={{6C1B7E0A-3F7B-4C55-9E1D-6A0B2B5D7A31}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=GAN Pruning Studio
DefaultDirName={localappdata}\Programs\GAN Pruning Studio
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
OutputDir={#Root}\dist
OutputBaseFilename=GAN-Pruning-Studio-{#AppVersion}-setup
SetupIconFile={#Root}\build\icons\studio.ico
UninstallDisplayIcon={app}\{#AppExe}
; torch makes the bundle several GB; lzma2 keeps the installer smaller at the cost of build time.
Compression=lzma2/fast
SolidCompression=no
; A single setup .exe holds at most ~4 GB: build it from the CPU-only studio (packaging/README.md); for a CUDA
; build set DiskSpanning=yes and DiskSliceSize=max (setup.exe + .bin files).
DiskSpanning=no
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; GroupDescription: "Shortcuts:"

[Files]
Source: "{#Root}\dist\gan-prune-studio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{userdesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "Start {#AppName}"; Flags: nowait postinstall skipifsilent
