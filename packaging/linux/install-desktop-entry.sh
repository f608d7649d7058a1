#!/bin/sh
# Adds this unpacked app to the desktop menu of the current user (no root needed):
#   ./install-desktop-entry.sh
# It writes ~/.local/share/applications/NAME.desktop pointing at this folder and copies the icon.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$here")
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
mkdir -p "$apps" "$icons"
cp "$here/$name.png" "$icons/$name.png"
# Absolute path to the program (quoted, so folders with spaces work); the home folder for Path=~.
sed -e "s|^Exec=$name|Exec=\"$here/$name\"|" -e "s|^Path=~|Path=$HOME|" "$here/$name.desktop" > "$apps/$name.desktop"
chmod +x "$apps/$name.desktop"
echo "Installed $apps/$name.desktop; $name is now in your applications menu."
