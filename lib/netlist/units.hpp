#pragma once
// Unit-carrying quantities for circuit parameters. A resistance cannot be passed where a
// capacitance is expected; the SI value (ohm, farad, second, ...) is what gets written.
#include <compare>

namespace imc::netlist {

template <class Tag>
struct Quantity {
    double si = 0.0;  // value in the SI base unit named by Tag::symbol
    constexpr Quantity() = default;
    constexpr explicit Quantity(double value_si) : si(value_si) {}
    constexpr auto operator<=>(const Quantity&) const = default;
    constexpr Quantity operator*(double f) const { return Quantity(si * f); }
    constexpr Quantity operator+(Quantity o) const { return Quantity(si + o.si); }
    constexpr Quantity operator-(Quantity o) const { return Quantity(si - o.si); }
};

struct OhmTag { static constexpr const char* symbol = "ohm"; };
struct FaradTag { static constexpr const char* symbol = "F"; };
struct HenryTag { static constexpr const char* symbol = "H"; };
struct VoltTag { static constexpr const char* symbol = "V"; };
struct AmpereTag { static constexpr const char* symbol = "A"; };
struct SecondTag { static constexpr const char* symbol = "s"; };
struct MeterTag { static constexpr const char* symbol = "m"; };

using Resistance = Quantity<OhmTag>;
using Capacitance = Quantity<FaradTag>;
using Inductance = Quantity<HenryTag>;
using Voltage = Quantity<VoltTag>;
using Current = Quantity<AmpereTag>;
using Time = Quantity<SecondTag>;
using Length = Quantity<MeterTag>;

namespace literals {
constexpr Resistance operator""_Ohm(long double v) { return Resistance(double(v)); }
constexpr Resistance operator""_kOhm(long double v) { return Resistance(double(v) * 1e3); }
constexpr Resistance operator""_MOhm(long double v) { return Resistance(double(v) * 1e6); }
constexpr Capacitance operator""_F(long double v) { return Capacitance(double(v)); }
constexpr Capacitance operator""_pF(long double v) { return Capacitance(double(v) * 1e-12); }
constexpr Capacitance operator""_fF(long double v) { return Capacitance(double(v) * 1e-15); }
constexpr Inductance operator""_H(long double v) { return Inductance(double(v)); }
constexpr Voltage operator""_V(long double v) { return Voltage(double(v)); }
constexpr Current operator""_A(long double v) { return Current(double(v)); }
constexpr Current operator""_uA(long double v) { return Current(double(v) * 1e-6); }
constexpr Time operator""_s(long double v) { return Time(double(v)); }
constexpr Time operator""_ms(long double v) { return Time(double(v) * 1e-3); }
constexpr Time operator""_us(long double v) { return Time(double(v) * 1e-6); }
constexpr Time operator""_ns(long double v) { return Time(double(v) * 1e-9); }
constexpr Time operator""_ps(long double v) { return Time(double(v) * 1e-12); }
constexpr Length operator""_nm(long double v) { return Length(double(v) * 1e-9); }
constexpr Length operator""_um(long double v) { return Length(double(v) * 1e-6); }
}  // namespace literals

}  // namespace imc::netlist
