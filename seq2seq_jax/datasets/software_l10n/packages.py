"""The Debian 12 packages each software_l10n config is built from.

Names only: apt picks the current version. Per-language packages are written with
``{lang}``; the English side of the two-language manuals (libreoffice-help-en-us,
gimp-help-en, ...) is listed too.
"""

from __future__ import annotations

LANGS = ("de", "fr")

# Debian 12 main packages with human translations.
PACKAGES = tuple("""
accerciser adduser aisleriot akregator apt aptitude-common ark artikulate atril-common
audacity-data baobab bash binutils-common bison bleachbit blinken bluedevil blueman
brasero-common caja-common cantor celluloid cheese-common cinnamon-l10n claws-mail-i18n
coreutils cpio cryptsetup-bin darktable dconf-editor debconf-i18n debian-faq debian-faq-{lang}
debian-handbook debian-reference-en debian-reference-{lang} developers-reference
developers-reference-{lang} dia-common diffutils digikam-data dolphin dpkg e2fsprogs-l10n
engrampa-common eog evince-common evolution-common evolution-data-server-common exfalso
file-roller filelight findutils five-or-more flex four-in-a-row freeciv-data fritzing-data gajim
gawk gcc-12-locales gdebi-core geany-common gedit-common gettext gimp-data gimp-help-en
gimp-help-{lang} git gnome-boxes gnome-calculator gnome-calendar gnome-chess gnome-clocks
gnome-contacts gnome-control-center-data gnome-disk-utility gnome-font-viewer gnome-games-app
gnome-keyring gnome-klotski gnome-logs gnome-mahjongg gnome-maps gnome-mines gnome-nibbles
gnome-robots gnome-screenshot gnome-session-common gnome-settings-daemon-common
gnome-shell-common gnome-software-common gnome-sudoku gnome-system-monitor gnome-taquin
gnome-terminal-data gnome-tetravex gnome-tweaks gnome-user-docs gnucash-common gnumeric-common
gnupg-l10n gparted-common gramps grisbi-common gvfs-common gwenview handbrake hexchat-common
hitori homebank-data hugin-data iagno inkscape k3b-i18n kaddressbook kaddressbook-data
kalzium-data kanagram kate5-data kbd kbounce kbruch kcalc kdeconnect kdenlive-data kdepim-addons
kdepim-runtime kdevelop-data kdevelop-l10n keditbookmarks keepassxc kgeography-data kget
khangman khelpcenter kig kinfocenter kio-extras-data kiten kmahjongg kmail kmines kmplot knights
kompare konsole kontact konversation-data korganizer kpat krb5-locales krita-l10n krusader
ksudoku ktexteditor-data ktorrent-data ktouch-data kturtle kwalletmanager kwin-data kwordquiz
kwrite libc-l10n libglib2.0-data libgoa-1.0-common libgpg-error-l10n libgtk-3-common
libgtk-4-common libkf5akonadi-data libkf5archive-data libkf5calendarsupport-data
libkf5eventviews-data libkf5incidenceeditor-data libkf5mailcommon-data libkf5newstuff-data
libkf5pimcommon-data libkf5solid5-data libkf5textwidgets-data libkf5wallet-data
libkf5widgetsaddons-data libkf5xmlgui-data libreoffice-help-en-us libreoffice-help-{lang}
libreoffice-l10n-{lang} liferea-data lightsoff lmms-common login lokalize lynx-common lyx-common
maint-guide maint-guide-{lang} make man-db marble-data mate-desktop-common mate-panel-common
mc-data meld mercurial-common merkaartor minetest-data mixxx-data mousepad mutt mutter-common
nano nautilus-data neomutt net-tools network-manager network-manager-gnome okteta okular orca
packagekit palapeli-data parley-data partitionmanager pavucontrol pidgin-data pitivi
plasma-desktop-data plasma-nm plasma-pa plasma-workspace-data pluma-common poedit-common
powerdevil-data print-manager procps psmisc pulseaudio python3-django qgis-common qtcreator-data
qttranslations5-l10n quadrapassel rhythmbox-data ristretto scribus-data seahorse sed
shotwell-common simple-scan sphinx-common step subversion sudo swell-foop synaptic
system-config-printer-common systemsettings tali tar texinfo thunar-data totem-common
transmission-gtk tuxpaint-data udisks2 umbrello-data util-linux-locales vim-runtime vlc-l10n
wesnoth-1.16-data wesnoth-1.16-did wesnoth-1.16-dm wesnoth-1.16-dw wesnoth-1.16-ei
wesnoth-1.16-httt wesnoth-1.16-l wesnoth-1.16-low wesnoth-1.16-nr wesnoth-1.16-sof
wesnoth-1.16-sota wesnoth-1.16-sotbe wesnoth-1.16-thot wesnoth-1.16-trow wesnoth-1.16-tsg
wesnoth-1.16-ttb wesnoth-1.16-utbs wget xfce4-panel xfce4-power-manager-data xfce4-settings
xfce4-terminal xfdesktop4-data xfwm4 xz-utils yakuake zim
""".split())

# The richest packages by yield per megabyte downloaded: most of the corpus for ~15% of the
# download. (wesnoth-1.16-data is rich but 146 MB, so it stays in the full config only.)
SMALL_PACKAGES = tuple("""
audacity-data claws-mail-i18n darktable debian-handbook debian-reference-en
debian-reference-{lang} digikam-data evolution-common freeciv-data gcc-12-locales gimp-data
gimp-help-en gimp-help-{lang} git gnome-user-docs gnucash-common gnumeric-common gramps inkscape
keepassxc libgtk-3-common libreoffice-help-en-us libreoffice-help-{lang} libreoffice-l10n-{lang}
lyx-common mercurial-common qgis-common qtcreator-data qttranslations5-l10n scribus-data
subversion util-linux-locales vlc-l10n
""".split())

def package_names(lang: str, small: bool = False) -> list[str]:
  """The Debian package names a config downloads, with ``{lang}`` filled in."""
  check_lang(lang)
  return sorted(name.format(lang=lang) for name in (SMALL_PACKAGES if small else PACKAGES))


def check_lang(lang: str) -> None:
  """Raises ValueError naming the supported languages unless ``lang`` is one of them."""
  if lang not in LANGS:
    raise ValueError(f"software_l10n: unsupported target language {lang!r}; "
                     f"supported: {', '.join(LANGS)}")

