/** Approximate locations of common cloud regions, so an endpoint's region code can be compared with request.cf. */

// [latitude, longitude] of the metro each region sits in. Unknown codes simply get no geographic preference.
export const REGION_COORDINATES: Record<string, readonly [number, number]> = {
  // AWS
  'us-east-1': [38.9, -77.4],
  'us-east-2': [40.0, -83.0],
  'us-west-1': [37.4, -121.9],
  'us-west-2': [45.8, -119.7],
  'ca-central-1': [45.5, -73.6],
  'sa-east-1': [-23.5, -46.6],
  'eu-west-1': [53.3, -6.3],
  'eu-west-2': [51.5, -0.1],
  'eu-west-3': [48.9, 2.4],
  'eu-central-1': [50.1, 8.7],
  'eu-north-1': [59.3, 18.1],
  'eu-south-1': [45.5, 9.2],
  'ap-northeast-1': [35.7, 139.7],
  'ap-northeast-2': [37.6, 127.0],
  'ap-northeast-3': [34.7, 135.5],
  'ap-southeast-1': [1.35, 103.8],
  'ap-southeast-2': [-33.9, 151.2],
  'ap-south-1': [19.1, 72.9],
  'me-south-1': [26.1, 50.6],
  'af-south-1': [-33.9, 18.4],
  // Google Cloud
  'us-central1': [41.3, -95.9],
  'us-east1': [33.2, -80.0],
  'us-east4': [39.0, -77.5],
  'us-west1': [45.6, -121.2],
  'us-west2': [34.1, -118.2],
  'northamerica-northeast1': [45.5, -73.6],
  'southamerica-east1': [-23.5, -46.6],
  'europe-west1': [50.4, 3.8],
  'europe-west2': [51.5, -0.1],
  'europe-west3': [50.1, 8.7],
  'europe-west4': [53.4, 6.8],
  'europe-north1': [60.6, 27.2],
  'asia-east1': [24.1, 120.7],
  'asia-northeast1': [35.7, 139.7],
  'asia-southeast1': [1.35, 103.8],
  'asia-south1': [19.1, 72.9],
  'australia-southeast1': [-33.9, 151.2],
  // Azure
  eastus: [37.4, -79.4],
  eastus2: [36.7, -78.4],
  westus: [37.8, -122.4],
  westus2: [47.2, -119.9],
  centralus: [41.6, -93.6],
  northeurope: [53.3, -6.3],
  westeurope: [52.4, 4.9],
  uksouth: [51.5, -0.1],
  germanywestcentral: [50.1, 8.7],
  japaneast: [35.7, 139.7],
  southeastasia: [1.35, 103.8],
  australiaeast: [-33.9, 151.2],
};

const CONTINENT_CENTRES: Record<string, readonly [number, number]> = {
  NA: [40, -95],
  SA: [-15, -60],
  EU: [50, 10],
  AF: [5, 20],
  AS: [30, 100],
  OC: [-25, 135],
  AN: [-80, 0],
};

/** The client's position from request.cf: coordinates if present, else the centre of its continent. */
export function clientPosition(client: {
  latitude?: number;
  longitude?: number;
  continent?: string;
}): readonly [number, number] | undefined {
  if (Number.isFinite(client.latitude) && Number.isFinite(client.longitude)) return [client.latitude!, client.longitude!];
  return client.continent ? CONTINENT_CENTRES[client.continent.toUpperCase()] : undefined;
}

/** Great-circle distance in kilometres. */
export function distanceKm(a: readonly [number, number], b: readonly [number, number]): number {
  const rad = Math.PI / 180;
  const dLat = (b[0] - a[0]) * rad;
  const dLon = (b[1] - a[1]) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2;
  return 12742 * Math.asin(Math.min(1, Math.sqrt(h)));
}
