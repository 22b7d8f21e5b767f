export interface Place {
  latitude: number;
  longitude: number;
}

export interface TravelPolicy {
  /** The fastest plausible journey, e.g. 1000 km/h for an airliner with some margin. */
  maxKmh: number;
  /** Distance always allowed, whatever the time: geolocation error (see docs/idp.md). */
  toleranceKm: number;
}

export interface ImpossibleTravel {
  distanceKm: number;
  elapsedMs: number;
}

const EARTH_RADIUS_KM = 6371.0088;
const radians = (degrees: number): number => (degrees * Math.PI) / 180;

/** Great-circle distance by the haversine formula (a sphere; under 0.5 % off the ellipsoid). */
export function greatCircleKm(a: Place, b: Place): number {
  const dLat = radians(b.latitude - a.latitude);
  const dLon = radians(b.longitude - a.longitude);
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(radians(a.latitude)) * Math.cos(radians(b.latitude)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Two logins further apart than maxKmh over the time between them (plus the tolerance) allows. */
export function impossibleTravel(
  previous: Place & { at: number },
  next: Place & { at: number },
  policy: TravelPolicy,
): ImpossibleTravel | null {
  const distanceKm = greatCircleKm(previous, next);
  const elapsedMs = Math.max(0, next.at - previous.at);
  const reachableKm = policy.toleranceKm + (policy.maxKmh * elapsedMs) / 3_600_000;
  return distanceKm > reachableKm ? { distanceKm, elapsedMs } : null;
}
