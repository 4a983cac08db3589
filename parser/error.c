/* SPDX-License-Identifier: MIT */
/* Names, conditions and messages of xsr_err, generated from XSR_ERR_MAP. */
#include "xsr/error.h"
#include "xsr/xsr.h"

static const struct {
  const char *name;
  const char *condition;
  const char *message;
} err_table[] = {
#define XSR__ERR_ROW(name, cond, msg) {"XSR_" #name, cond, msg},
    XSR_ERR_MAP(XSR__ERR_ROW)
#undef XSR__ERR_ROW
};

const char *xsr_err_name(xsr_err err) {
  if ((unsigned)err >= XSR__ERR_MAX)
    return "XSR_UNKNOWN";
  return err_table[err].name;
}

const char *xsr_err_condition(xsr_err err) {
  if ((unsigned)err >= XSR__ERR_MAX)
    return "undefined-condition";
  return err_table[err].condition;
}

const char *xsr_err_message(xsr_err err) {
  if ((unsigned)err >= XSR__ERR_MAX)
    return "unknown error";
  return err_table[err].message;
}

const char *xsr_version(void) { return XSR_VERSION_STRING; }
