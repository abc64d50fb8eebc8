# Shared by start.sh and stop.sh (sourced, not run): the recorded-PID helpers.
# Needs PIDS (the "NAME PID" file) and CONF (our slurm.conf) set by the caller.

# getpid NAME: the PID recorded for NAME
getpid() { awk -v n="$1" '$1 == n {print $2}' "$PIDS"; }
# alive NAME: the recorded PID exists and its command line is still NAME (+ our conf for slurm daemons)
alive() {
  local p cmd
  p=$(getpid "$1")
  [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] || return 1
  cmd=$(tr '\0' ' ' < "/proc/$p/cmdline")
  case "$1" in
    munged) [[ "$cmd" == *munged* ]] ;;
    *) [[ "$cmd" == *"$1"* && "$cmd" == *"$CONF"* ]] ;;
  esac
}
